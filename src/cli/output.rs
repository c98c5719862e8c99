//! How commands print: JSON or a plain table.

use anyhow::Context;

/// JSON, or a plain table of the given columns.
pub(super) fn print_rows(
    rows: &[serde_json::Value],
    json: bool,
    columns: &[&str],
) -> anyhow::Result<()> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(rows).context("cannot render JSON")?
        );
        return Ok(());
    }
    println!(
        "{}",
        columns
            .iter()
            .map(|c| c.to_uppercase())
            .collect::<Vec<_>>()
            .join("\t")
    );
    for row in rows {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| match &row[*c] {
                serde_json::Value::String(text) => text.clone(),
                serde_json::Value::Null => "-".into(),
                other => other.to_string(),
            })
            .collect();
        println!("{}", cells.join("\t"));
    }
    Ok(())
}
