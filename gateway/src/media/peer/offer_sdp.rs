//! What the gateway changes in a client's offer before rtc reads it: only
//! what rtc would refuse or misuse, and never what the answer depends on.
//! The offer is read and changed as a parsed description ([`Sdp`]).

use super::sdp::Sdp;

/// The offer without `.local` (mDNS) candidates: an ICE-lite gateway never
/// uses remote candidates to send checks, and learns each browser's real
/// address from the checks it receives (peer-reflexive).
fn drop_mdns_candidates(offer: &mut Sdp) {
    offer.retain_candidates(|candidate| !candidate.is_mdns());
}

/// The offer as rtc will read it: without mDNS candidates, and with every
/// bundled section on the group's one transport; or why it cannot share
/// the gateway's one transport at all.
pub(super) fn prepare_for_rtc(offer: &mut Sdp) -> Result<(), String> {
    drop_mdns_candidates(offer);
    if let Some(why) = unbundled(offer) {
        return Err(why);
    }
    move_bundle_onto_tagged_transport(offer);
    Ok(())
}

/// The DTLS role the gateway answers with: the server (`setup:passive`),
/// unless the offer insists on being the server itself (`setup:passive`),
/// when the answer must be `setup:active` (RFC 5763 §5) and the gateway
/// the client.
pub(super) fn answering_dtls_role(offer: &Sdp) -> rtc::peer_connection::transport::RTCDtlsRole {
    use rtc::peer_connection::transport::RTCDtlsRole;
    if offer.insists_on_dtls_server() {
        RTCDtlsRole::Client
    } else {
        RTCDtlsRole::Server
    }
}

/// Whether section `mid` is in the offer's (first) BUNDLE group.
fn in_group(group: &[&str], mid: Option<&str>) -> bool {
    mid.is_some_and(|mid| group.contains(&mid))
}

/// Why the offer cannot share the gateway's one transport, if it
/// cannot: more than one media section in use, not all in the group.
///
/// WHIP requires BUNDLE (RFC 9725), and WHEP follows it; every
/// browser, webrtcbin with `max-bundle`, aiortc and werift bundle.
/// Without it a client expects a transport per section, which the
/// gateway's one port cannot give, and rtc would refuse the offer with
/// words about ICE credentials instead.
fn unbundled(offer: &Sdp) -> Option<String> {
    if offer.sections().count() < 2 {
        return None;
    }
    let group = offer.bundle_group();
    let outside: Vec<String> = offer
        .sections()
        // A section with port 0 is turned off, or `a=bundle-only` (which
        // rides on the group's transport, so is in the group if it is in
        // use at all).
        .filter(|section| !section.is_rejected())
        .filter(|section| !in_group(&group, section.mid()))
        .map(|section| match section.mid() {
            Some(mid) => format!("{} (mid {mid})", section.media()),
            None => format!("{} (no mid)", section.media()),
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

/// Puts every bundled section on the transport of the group's first
/// section, the offerer-tagged one; returns whether that changed anything.
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
fn move_bundle_onto_tagged_transport(offer: &mut Sdp) -> bool {
    let group = offer.bundle_group();
    let Some(tagged) = group
        .iter()
        .find_map(|tag| offer.sections().find(|s| s.mid() == Some(*tag)))
    else {
        return false;
    };
    let credentials = tagged.credentials();
    let others: Vec<usize> = offer
        .sections()
        .filter(|section| section.index() != tagged.index())
        .filter(|section| in_group(&group, section.mid()))
        .map(|section| section.index())
        .collect();
    // rtc-sdp's attributes do not compare; their key and value do.
    let key_values = |attributes: &[rtc::sdp::description::common::Attribute]| {
        attributes
            .iter()
            .map(|a| (a.key.clone(), a.value.clone()))
            .collect::<Vec<_>>()
    };
    let differs = offer
        .sections()
        .filter(|section| others.contains(&section.index()))
        .any(|section| key_values(&section.credentials()) != key_values(&credentials));
    if credentials.is_empty() || !differs {
        return false;
    }
    for index in others {
        offer.move_section_to_transport(index, &credentials);
    }
    true
}

/// Whether a section of the offer of `mime_type`'s kind ("video/VP8")
/// lists its codec in an `a=rtpmap`.
pub(super) fn offers_codec(offer: &Sdp, mime_type: &str) -> bool {
    offer.sections().any(|section| section.offers(mime_type))
}

#[cfg(test)]
mod tests {
    use super::super::sdp::Sdp;
    use super::{drop_mdns_candidates, move_bundle_onto_tagged_transport, offers_codec};

    fn parsed(sdp: &str) -> Sdp {
        Sdp::parse(sdp).unwrap_or_else(|err| panic!("{err}: {sdp}"))
    }

    /// The offer as text after the bundle rewrite (unchanged text when
    /// the rewrite changes nothing).
    fn on_the_bundle_transport(sdp: &str) -> String {
        let mut offer = parsed(sdp);
        if move_bundle_onto_tagged_transport(&mut offer) {
            offer.to_text()
        } else {
            sdp.to_owned()
        }
    }

    fn bundle_rewrite_changes(sdp: &str) -> bool {
        move_bundle_onto_tagged_transport(&mut parsed(sdp))
    }

    fn unbundled(sdp: &str) -> Option<String> {
        super::unbundled(&parsed(sdp))
    }

    fn without_mdns_candidates(sdp: &str) -> String {
        let mut offer = parsed(sdp);
        drop_mdns_candidates(&mut offer);
        offer.to_text()
    }

    fn for_rtc(sdp: &str) -> Result<String, String> {
        let mut offer = parsed(sdp);
        super::prepare_for_rtc(&mut offer)?;
        Ok(offer.to_text())
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
        let offer = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\n\
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
        assert!(!bundle_rewrite_changes(CHROMIUM));
    }

    #[test]
    fn sections_outside_the_group_keep_their_transport() {
        let half = AIORTC.replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 0");
        assert!(!bundle_rewrite_changes(&half));
        let no_group = AIORTC.replace("a=group:BUNDLE 0 1\r\n", "");
        assert!(!bundle_rewrite_changes(&no_group));
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
        assert!(offers_codec(&parsed(CHROMIUM), "video/H264"));
        assert!(offers_codec(&parsed(CHROMIUM), "video/vp8"));
        assert!(offers_codec(&parsed(AIORTC), "audio/opus"));
        assert!(!offers_codec(&parsed(AIORTC), "video/opus"));
        let h264_only = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\n\
            m=audio 9 UDP/TLS/RTP/SAVPF 97\r\na=rtpmap:97 VP8/90000\r\n";
        let h264_only = parsed(h264_only);
        assert!(offers_codec(&h264_only, "video/H264"));
        assert!(!offers_codec(&h264_only, "video/VP8"));
        assert!(!offers_codec(&h264_only, "VP8"));
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
