//! CIDR handling: parse, merge, sort, classify. Pure.
