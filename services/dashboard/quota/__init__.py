"""The Quota page (issue 15): each OAuth account's provider windows beside what the gateway
recorded for that account in the same window."""
