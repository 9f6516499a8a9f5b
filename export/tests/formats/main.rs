//! Every export format read back by an independent reader: what a person
//! opening the file would see.

mod csv_files;
mod determinism;
mod excel;
mod fixture;
mod html_report;
mod json_lines;
mod zip_archive;
