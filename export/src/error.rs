//! What can go wrong while writing an export.

use qicoo_projections::audit::tables::Table;

/// An export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The output refused the bytes (a closed connection, a full disk…).
    #[error("writing the export failed")]
    Io(#[from] std::io::Error),
    #[error("encoding a CSV record failed")]
    Csv(#[from] csv::Error),
    #[error("encoding JSON failed")]
    Json(#[from] serde_json::Error),
    #[error("writing the zip archive failed")]
    Zip(#[from] zip::result::ZipError),
    #[error("writing the Excel workbook failed")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    /// A row was written while no table was begun.
    #[error("a {} row was written before any table was begun", .0.as_str())]
    NoTable(Table),
    /// A row of one table was written while another was being written.
    #[error("a {} row was written into the {} table", .got.as_str(), .expected.as_str())]
    WrongTable { expected: Table, got: Table },
    /// A table was begun a second time in the same archive or workbook.
    #[error("the {} table was already written", .0.as_str())]
    TableRepeated(Table),
}

/// The result of writing an export.
pub type Result<T, E = Error> = std::result::Result<T, E>;
