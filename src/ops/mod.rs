//! Operations shared by several commands (as cargo's `ops`): each composes
//! the pure core (`values`, `egress`) with the edges. Used only by
//! `commands/`; never uses it.

pub mod check;
pub mod input;
pub mod permissions;
pub mod render;
