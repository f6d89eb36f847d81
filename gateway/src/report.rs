//! `samsyn-gateway report`: the consultation log as CSV or JSON, for the
//! statistics the hospital and the municipality must register.

use std::fmt::Write as _;

use anyhow::{Context, bail};
use samsyn_config::GatewayConfig;
use samsyn_signaling::consultation_log::{ConsultationRecord, read_log};

/// How the report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// One header line, then one line per consultation
    Csv,
    /// One JSON array of consultation objects
    Json,
}

/// Prints the consultations (of one room, and from a day or instant on, if
/// given) in `format`.
pub fn show(
    config: &GatewayConfig,
    room: Option<&str>,
    since: Option<&str>,
    format: ReportFormat,
) -> anyhow::Result<()> {
    if let Some(since) = since {
        check_since(since)?;
    }
    let records = read_log(&config.data_dir, |path, line| {
        eprintln!(
            "samsyn-gateway: skipping line {line} of {}: not a consultation record",
            path.display()
        );
    })
    .with_context(|| {
        format!(
            "cannot read the consultation log in {}",
            config.data_dir.display()
        )
    })?;
    if !config.audit.enabled {
        eprintln!(
            "samsyn-gateway: audit.enabled is false: the gateway keeps no consultation log, \
             so only older records (if any) are shown"
        );
    }
    let records: Vec<ConsultationRecord> = records
        .into_iter()
        .filter(|r| room.is_none_or(|room| r.room == room))
        // RFC 3339 UTC times in one format compare as text; a date alone
        // is the start of that day.
        .filter(|r| since.is_none_or(|since| r.started_at.as_str() >= since))
        .collect();
    match format {
        ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&records)?),
        ReportFormat::Csv => print!("{}", csv(&records)),
    }
    eprintln!("samsyn-gateway: {} consultations", records.len());
    Ok(())
}

const CSV_HEADER: &str = "room,started_at,ended_at,duration_secs,publishers,specialists,\
    observers,bytes_from_camera,bytes_to_viewers,media_sessions,connections_lost,\
    never_connected,camera_reconnects,quality_reports,fair_reports,poor_reports,\
    worst_rtt_ms,worst_loss_percent,ended_by,relayed_sessions";

/// The records as CSV. Every field is a number (empty when not measured),
/// an RFC 3339 time, a room id (lowercase letters and digits) or one of two
/// fixed phrases, so no field needs quoting.
pub fn csv(records: &[ConsultationRecord]) -> String {
    let mut out = format!("{CSV_HEADER}\n");
    for r in records {
        let q = &r.quality;
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.room,
            r.started_at,
            r.ended_at,
            r.duration_secs,
            r.participants.publisher,
            r.participants.specialist,
            r.participants.observer,
            r.bytes_from_camera,
            r.bytes_to_viewers,
            q.media_sessions,
            q.connections_lost,
            q.never_connected,
            q.camera_reconnects,
            q.quality_reports,
            q.fair_reports,
            q.poor_reports,
            q.worst_rtt_ms.map(|v| v.to_string()).unwrap_or_default(),
            q.worst_loss_percent
                .map(|v| v.to_string())
                .unwrap_or_default(),
            r.ended_by,
            q.relayed_sessions,
        );
    }
    out
}

/// `--since` must be a date (`2026-11-30`) or a UTC time
/// (`2026-11-30T08:00:00Z`).
fn check_since(since: &str) -> anyhow::Result<()> {
    let shape_ok = |pattern: &str| {
        since.len() == pattern.len()
            && since.bytes().zip(pattern.bytes()).all(|(c, p)| match p {
                b'9' => c.is_ascii_digit(),
                _ => c == p,
            })
    };
    if shape_ok("9999-99-99") || shape_ok("9999-99-99T99:99:99Z") {
        Ok(())
    } else {
        bail!(
            "--since {since:?} is not a date or UTC time; give e.g. 2026-11-30 or \
             2026-11-30T08:00:00Z"
        )
    }
}

#[cfg(test)]
mod tests {
    use samsyn_signaling::consultation_log::{QualitySummary, RoleCounts};

    use super::*;

    #[test]
    fn csv_has_a_header_and_one_line_per_consultation() {
        let record = ConsultationRecord {
            room: "k3v9x2m4qa".into(),
            started_at: "2026-11-30T08:00:00Z".into(),
            ended_at: "2026-11-30T08:20:00Z".into(),
            duration_secs: 1200,
            participants: RoleCounts {
                publisher: 1,
                specialist: 2,
                observer: 0,
            },
            bytes_from_camera: 10,
            bytes_to_viewers: 20,
            quality: QualitySummary {
                media_sessions: 4,
                connections_lost: 1,
                never_connected: 0,
                camera_reconnects: 1,
                quality_reports: 10,
                fair_reports: 2,
                poor_reports: 0,
                worst_rtt_ms: Some(180),
                worst_loss_percent: None,
                relayed_sessions: 2,
            },
            ended_by: "room ended".into(),
        };
        let text = csv(&[record]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].split(',').count(), lines[1].split(',').count());
        assert_eq!(
            lines[1],
            "k3v9x2m4qa,2026-11-30T08:00:00Z,2026-11-30T08:20:00Z,1200,1,2,0,10,20,4,1,0,1,10,2,0,180,,room ended,2"
        );
    }

    #[test]
    fn since_takes_a_date_or_a_utc_time() {
        assert!(check_since("2026-11-30").is_ok());
        assert!(check_since("2026-11-30T08:00:00Z").is_ok());
        for bad in ["30.11.2026", "2026-11-30 08:00", "yesterday", ""] {
            let err = check_since(bad).unwrap_err().to_string();
            assert!(err.contains("2026-11-30"), "{err}");
        }
    }
}
