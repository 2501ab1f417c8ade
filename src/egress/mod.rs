//! Egress: CIDR math and assembling the allow-list (pure), and the address
//! sources it is built from (DNS and published lists, async, the only
//! network I/O). Depends on `error` only; never on `values` or `cluster`.

pub mod allow_list;
pub mod cidr;
pub mod corefile;
pub mod dns;
pub mod policy;
pub mod probe;
pub mod published;
