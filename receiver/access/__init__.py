"""Who may call: API tokens and roles, webhook credentials, failed-authentication limits and the
connection cap. Used by every transport; imports no transport."""
