//! What the gateway changes in a client's offer before rtc reads it: only
//! what rtc would refuse or misuse, and never what the answer depends on.

use std::ops::Range;

/// The offer without `.local` (mDNS) candidates: an ICE-lite gateway never
/// uses remote candidates to send checks, and learns each browser's real
/// address from the checks it receives (peer-reflexive).
fn without_mdns_candidates(sdp: &str) -> String {
    sdp.split_inclusive('\n')
        .filter(|line| {
            !(line.starts_with("a=candidate:")
                && line
                    .split(' ')
                    .nth(4)
                    .is_some_and(|address| address.ends_with(".local")))
        })
        .collect()
}

/// The offer as rtc will read it: without mDNS candidates, and with every
/// bundled section on the group's one transport; or why it cannot share
/// the gateway's one transport at all.
pub(super) fn for_rtc(sdp: &str) -> Result<String, String> {
    let sdp = without_mdns_candidates(sdp);
    let layout = Layout::of(&sdp);
    if let Some(why) = layout.unbundled() {
        return Err(why);
    }
    Ok(layout.on_the_bundle_transport().unwrap_or(sdp))
}

/// The DTLS role the gateway answers with: the server (`setup:passive`),
/// unless the offer insists on being the server itself (`setup:passive`),
/// when the answer must be `setup:active` (RFC 5763 §5) and the gateway
/// the client.
pub(super) fn answering_dtls_role(offer: &str) -> rtc::peer_connection::transport::RTCDtlsRole {
    use rtc::peer_connection::transport::RTCDtlsRole;
    let offers_passive = offer
        .lines()
        .any(|line| line.trim_end() == "a=setup:passive");
    if offers_passive {
        RTCDtlsRole::Client
    } else {
        RTCDtlsRole::Server
    }
}

/// An offer's lines (each with its line ending), its media sections and the
/// mids of its first BUNDLE group: what the check and the rewrite read.
struct Layout<'a> {
    lines: Vec<&'a str>,
    /// Line ranges, each from its `m=` line.
    sections: Vec<Range<usize>>,
    /// Empty when the offer has no BUNDLE group.
    group: Vec<&'a str>,
}

impl<'a> Layout<'a> {
    fn of(sdp: &'a str) -> Self {
        let lines: Vec<&str> = sdp.split_inclusive('\n').collect();
        let starts: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, line)| line.starts_with("m="))
            .map(|(index, _)| index)
            .collect();
        let sections: Vec<Range<usize>> = starts
            .iter()
            .enumerate()
            .map(|(n, &start)| start..starts.get(n + 1).copied().unwrap_or(lines.len()))
            .collect();
        let session = &lines[..sections.first().map_or(lines.len(), |s| s.start)];
        let group = session
            .iter()
            .find_map(|line| {
                let mids = line.trim_end().strip_prefix("a=group:BUNDLE")?;
                Some(mids.split_whitespace().collect())
            })
            .unwrap_or_default();
        Self {
            lines,
            sections,
            group,
        }
    }

    fn lines_of(&self, section: &Range<usize>) -> &[&'a str] {
        &self.lines[section.clone()]
    }

    fn mid(&self, section: &Range<usize>) -> Option<&'a str> {
        self.lines_of(section)
            .iter()
            .find_map(|line| line.trim_end().strip_prefix("a=mid:"))
    }

    fn in_group(&self, section: &Range<usize>) -> bool {
        self.mid(section)
            .is_some_and(|mid| self.group.contains(&mid))
    }

    fn credentials(&self, section: &Range<usize>) -> Vec<&'a str> {
        self.lines_of(section)
            .iter()
            .copied()
            .filter(|line| is_credential(line))
            .collect()
    }

    /// Why the offer cannot share the gateway's one transport, if it
    /// cannot: more than one media section in use, not all in the group.
    ///
    /// WHIP requires BUNDLE (RFC 9725), and WHEP follows it; every
    /// browser, webrtcbin with `max-bundle`, aiortc and werift bundle.
    /// Without it a client expects a transport per section, which the
    /// gateway's one port cannot give, and rtc would refuse the offer with
    /// words about ICE credentials instead.
    fn unbundled(&self) -> Option<String> {
        if self.sections.len() < 2 {
            return None;
        }
        let outside: Vec<String> = self
            .sections
            .iter()
            .filter(|section| !is_rejected(self.lines[section.start]))
            .filter(|section| !self.in_group(section))
            .map(|section| {
                let kind = self.lines[section.start][2..]
                    .split(' ')
                    .next()
                    .unwrap_or("?");
                match self.mid(section) {
                    Some(mid) => format!("{kind} (mid {mid})"),
                    None => format!("{kind} (no mid)"),
                }
            })
            .collect();
        if outside.is_empty() {
            return None;
        }
        Some(format!(
            "its media sections are not all in one BUNDLE group ({} outside it); samsyn carries \
             all media on one transport, as WHIP requires (RFC 9725): offer BUNDLE \
             (bundlePolicy max-bundle or balanced)",
            outside.join(", ")
        ))
    }

    /// The offer with every bundled section on the transport of the
    /// group's first section, the offerer-tagged one; `None` when that
    /// changes nothing.
    ///
    /// RFC 8843 lets an offerer give each section of a BUNDLE group its own
    /// ICE credentials and candidates, so that an answerer that does not
    /// bundle can still use them; an answerer that bundles uses the tagged
    /// section's transport for the whole group (§7.3.1). Browsers offer
    /// `max-bundle`, one set of credentials for all sections; aiortc's
    /// default ("balanced") offers one set per section. rtc refuses an
    /// offer with more than one set, and the gateway bundles everything on
    /// its one port anyway, so the other sections' credentials become the
    /// tagged section's and their candidates (ports the bundle will never
    /// use) are dropped.
    fn on_the_bundle_transport(&self) -> Option<String> {
        let tagged = self.group.iter().find_map(|tag| {
            self.sections
                .iter()
                .find(|section| self.mid(section) == Some(*tag))
        })?;
        let credentials = self.credentials(tagged);
        let differs = self
            .sections
            .iter()
            .filter(|section| self.in_group(section))
            .any(|section| {
                let own = self.credentials(section);
                own.iter()
                    .map(|l| l.trim_end())
                    .ne(credentials.iter().map(|l| l.trim_end()))
            });
        if credentials.is_empty() || !differs {
            return None;
        }

        let mut out: String = self.lines[..self.sections[0].start].concat();
        for section in &self.sections {
            let lines = self.lines_of(section);
            if section == tagged || !self.in_group(section) {
                out.extend(lines.iter().copied());
                continue;
            }
            out.extend(lines.iter().copied().filter(|line| {
                !is_credential(line)
                    && !line.starts_with("a=candidate:")
                    && !line.starts_with("a=end-of-candidates")
            }));
            out.extend(credentials.iter().copied());
        }
        Some(out)
    }
}

/// A section with port 0: turned off, or `a=bundle-only` (which rides on
/// the group's transport, so is in the group if it is in use at all).
fn is_rejected(m_line: &str) -> bool {
    m_line.split(' ').nth(1) == Some("0")
}

/// Whether an m-line of `kind` ("video", "audio") lists `mime_type`
/// ("video/VP8") in an `a=rtpmap`.
pub(super) fn offers_codec(sdp: &str, kind: &str, mime_type: &str) -> bool {
    let Some((_, name)) = mime_type.split_once('/') else {
        return false;
    };
    let mut in_kind = false;
    sdp.lines().any(|line| {
        let line = line.trim_end();
        if let Some(media) = line.strip_prefix("m=") {
            in_kind = media.split(' ').next() == Some(kind);
            return false;
        }
        in_kind
            && line
                .strip_prefix("a=rtpmap:")
                .and_then(|map| map.split_once(' '))
                .and_then(|(_, encoding)| encoding.split('/').next())
                .is_some_and(|encoding| encoding.eq_ignore_ascii_case(name))
    })
}

fn is_credential(line: &str) -> bool {
    line.starts_with("a=ice-ufrag:") || line.starts_with("a=ice-pwd:")
}

#[cfg(test)]
mod tests {
    use super::{Layout, for_rtc, offers_codec, without_mdns_candidates};

    fn on_the_bundle_transport(sdp: &str) -> String {
        Layout::of(sdp)
            .on_the_bundle_transport()
            .unwrap_or_else(|| sdp.to_owned())
    }

    fn unbundled(sdp: &str) -> Option<String> {
        Layout::of(sdp).unbundled()
    }

    /// aiortc 1.4's WHEP offer: two sections, two sets of credentials.
    const AIORTC: &str = include_str!("../../../tests/data/offers/aiortc-whep.sdp");
    /// Chromium's: one set, repeated in each section.
    const CHROMIUM: &str = include_str!("../../../tests/data/offers/chromium-whep.sdp");

    fn values<'a>(sdp: &'a str, prefix: &str) -> Vec<&'a str> {
        sdp.lines()
            .filter_map(|line| line.trim_end().strip_prefix(prefix))
            .collect()
    }

    #[test]
    fn mdns_candidates_are_dropped_and_others_kept() {
        let offer = "v=0\r\n\
            a=candidate:1 1 udp 2113937151 0c1d2e3f-aaaa.local 54321 typ host generation 0\r\n\
            a=candidate:2 1 udp 2113937151 10.213.0.2 54322 typ host\r\n\
            a=mid:0\r\n";
        let kept = without_mdns_candidates(offer);
        assert!(!kept.contains(".local"), "{kept}");
        assert!(kept.contains("10.213.0.2 54322"), "{kept}");
        assert!(
            kept.starts_with("v=0\r\n") && kept.ends_with("a=mid:0\r\n"),
            "{kept}"
        );
    }

    #[test]
    fn every_bundled_section_gets_the_tagged_sections_credentials() {
        assert_eq!(values(AIORTC, "a=ice-ufrag:").len(), 2);
        let rewritten = on_the_bundle_transport(AIORTC);
        let ufrags = values(&rewritten, "a=ice-ufrag:");
        let pwds = values(&rewritten, "a=ice-pwd:");
        assert_eq!(ufrags, [values(AIORTC, "a=ice-ufrag:")[0]; 2]);
        assert_eq!(pwds, [values(AIORTC, "a=ice-pwd:")[0]; 2]);
        // The tagged section keeps its candidates; the other loses its own.
        let candidates = values(&rewritten, "a=candidate:");
        assert_eq!(candidates.len(), 2);
        assert!(
            candidates
                .iter()
                .all(|c| c.contains(" 33984 ") || c.contains(" 57203 "))
        );
        assert_eq!(values(&rewritten, "a=end-of-candidates").len(), 1);
        // Nothing else changes, line endings included.
        assert_eq!(values(&rewritten, "a=rtpmap:"), values(AIORTC, "a=rtpmap:"));
        assert!(
            rewritten
                .split_inclusive('\n')
                .all(|line| line.ends_with("\r\n"))
        );
    }

    #[test]
    fn an_offer_with_one_set_of_credentials_is_left_alone() {
        assert_eq!(Layout::of(CHROMIUM).on_the_bundle_transport(), None);
    }

    #[test]
    fn sections_outside_the_group_keep_their_transport() {
        let half = AIORTC.replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 0");
        assert_eq!(Layout::of(&half).on_the_bundle_transport(), None);
        let no_group = AIORTC.replace("a=group:BUNDLE 0 1\r\n", "");
        assert_eq!(Layout::of(&no_group).on_the_bundle_transport(), None);
    }

    #[test]
    fn the_tagged_section_is_the_groups_first_mid_not_the_first_section() {
        let reordered = AIORTC.replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 1 0");
        let rewritten = on_the_bundle_transport(&reordered);
        let audio_ufrag = values(AIORTC, "a=ice-ufrag:")[1];
        assert_eq!(values(&rewritten, "a=ice-ufrag:"), [audio_ufrag; 2]);
    }

    #[test]
    fn a_codec_counts_only_in_an_m_line_of_its_kind() {
        assert!(offers_codec(CHROMIUM, "video", "video/H264"));
        assert!(offers_codec(CHROMIUM, "video", "video/vp8"));
        assert!(offers_codec(AIORTC, "audio", "audio/opus"));
        assert!(!offers_codec(AIORTC, "audio", "video/VP8"));
        let h264_only = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\n\
            m=audio 9 UDP/TLS/RTP/SAVPF 97\r\na=rtpmap:97 VP8/90000\r\n";
        assert!(offers_codec(h264_only, "video", "video/H264"));
        assert!(!offers_codec(h264_only, "video", "video/VP8"));
        assert!(!offers_codec(h264_only, "video", "VP8"));
    }

    #[test]
    fn media_outside_the_bundle_group_is_named() {
        assert_eq!(unbundled(AIORTC), None);
        assert_eq!(unbundled(CHROMIUM), None);
        let no_group = AIORTC.replace("a=group:BUNDLE 0 1\r\n", "");
        let why = unbundled(&no_group).expect("two sections without BUNDLE");
        assert!(
            why.contains("video (mid 0), audio (mid 1) outside it"),
            "{why}"
        );
        let half = AIORTC.replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 0");
        let why = unbundled(&half).expect("audio outside the group");
        assert!(why.contains("(audio (mid 1) outside it)"), "{why}");
        // One section needs no group; a section turned off is not in use.
        let cut = AIORTC.find("m=audio").unwrap();
        assert_eq!(
            unbundled(&no_group[..no_group.find("m=audio").unwrap()]),
            None
        );
        let audio_off = half.replacen("m=audio 58662", "m=audio 0", 1);
        assert_eq!(unbundled(&audio_off), None, "{}", &audio_off[cut..]);
    }

    #[test]
    fn rtc_reads_one_transport_or_is_told_why_not() {
        let rewritten = for_rtc(AIORTC).expect("aiortc's offer bundles");
        assert_eq!(rewritten, on_the_bundle_transport(AIORTC));
        assert_eq!(
            for_rtc(CHROMIUM).as_deref(),
            Ok(without_mdns_candidates(CHROMIUM).as_str())
        );
        let no_group = AIORTC.replace("a=group:BUNDLE 0 1\r\n", "");
        assert_eq!(for_rtc(&no_group), Err(unbundled(&no_group).unwrap()));
    }
}
