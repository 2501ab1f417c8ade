//! Output: formatting what commands print (tables). Pure; the printing
//! itself still happens in `cluster::runner`'s line helpers.

pub mod table;
