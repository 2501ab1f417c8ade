//! DNS lookups of the whitelisted hosts (A and AAAA).
