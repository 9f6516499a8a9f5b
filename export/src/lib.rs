//! Qicoo's export formats: the rows of [`qicoo_projections::audit::tables`]
//! written as CSV, JSON Lines, an Excel workbook or a self-contained HTML
//! report.
