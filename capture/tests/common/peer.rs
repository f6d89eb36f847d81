//! A real webrtcbin on the far side, standing in for the gateway in tests
//! that move media on loopback: it answers an offer, and either decodes what
//! it receives or sends a test stream (video, or a voice on talk-back).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_sdp as gst_sdp;
use gstreamer_webrtc as gst_webrtc;
use samsyn_capture::chain::VideoChain;
use samsyn_capture::settings::{VideoCodec, VideoSettings};
use samsyn_capture::source::SourceSpec;

/// What the receiving peer decoded.
#[derive(Debug, Default, Clone, Copy)]
pub struct Received {
    pub frames: u64,
    pub size: Option<(u32, u32)>,
}

/// The far end of a test connection.
pub struct Peer {
    pub pipeline: gst::Pipeline,
    pub webrtcbin: gst::Element,
    pub received: Arc<Mutex<Received>>,
    /// The appsink of the decoder, once a stream arrived.
    pub decoder_sink: Arc<Mutex<Option<gst_app::AppSink>>>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn loopback() -> Vec<IpAddr> {
    vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]
}

fn wait_promise(emit: impl FnOnce(&gst::Promise)) -> Option<gst::Structure> {
    let promise = gst::Promise::new();
    emit(&promise);
    assert_eq!(
        promise.wait(),
        gst::PromiseResult::Replied,
        "webrtcbin answers"
    );
    let reply = promise.get_reply().map(|s| s.to_owned());
    if let Some(error) = reply
        .as_ref()
        .and_then(|r| r.get::<gst::glib::Error>("error").ok())
    {
        panic!("webrtcbin failed: {error}");
    }
    reply
}

/// Applies `offer` and returns the answer SDP with candidates.
fn answer(webrtcbin: &gst::Element, offer: &str) -> String {
    let sdp = gst_sdp::SDPMessage::parse_buffer(offer.as_bytes()).expect("offer parses");
    let offer = gst_webrtc::WebRTCSessionDescription::new(gst_webrtc::WebRTCSDPType::Offer, sdp);
    wait_promise(|p| webrtcbin.emit_by_name::<()>("set-remote-description", &[&offer, p]));
    let reply = wait_promise(|p| {
        webrtcbin.emit_by_name::<()>("create-answer", &[&None::<gst::Structure>, p])
    })
    .expect("answer reply");
    let answer = reply
        .get::<gst_webrtc::WebRTCSessionDescription>("answer")
        .expect("reply has an answer");
    wait_promise(|p| webrtcbin.emit_by_name::<()>("set-local-description", &[&answer, p]));
    super::wait_until(Duration::from_secs(3), || {
        (webrtcbin.property::<gst_webrtc::WebRTCICEGatheringState>("ice-gathering-state")
            == gst_webrtc::WebRTCICEGatheringState::Complete)
            .then_some(())
    });
    webrtcbin
        .property::<Option<gst_webrtc::WebRTCSessionDescription>>("local-description")
        .expect("local description")
        .sdp()
        .as_text()
        .unwrap()
}

impl Peer {
    /// A receiver that answers `offer` and decodes H.264 into a counter.
    pub fn receiver(offer: &str) -> (Self, String) {
        let webrtcbin = samsyn_capture::webrtc::new_webrtcbin("peer", &loopback()).unwrap();
        let pipeline = gst::Pipeline::with_name("peer-receiver");
        pipeline.add(&webrtcbin).unwrap();
        let received = Arc::new(Mutex::new(Received::default()));
        let decoder_sink = Arc::new(Mutex::new(None));
        let weak = pipeline.downgrade();
        let (count, sink_slot) = (received.clone(), decoder_sink.clone());
        webrtcbin.connect_pad_added(move |_, pad| {
            let pipeline = weak.upgrade().unwrap();
            let sink = decode_to_counter(&pipeline, pad, count.clone());
            *sink_slot.lock().unwrap() = Some(sink);
        });
        pipeline.set_state(gst::State::Playing).unwrap();
        let answer = answer(&webrtcbin, offer);
        (
            Self {
                pipeline,
                webrtcbin,
                received,
                decoder_sink,
            },
            answer,
        )
    }

    /// A sender of the test pattern (320x240 H.264) that answers a
    /// receive-only `offer`.
    pub fn sender(offer: &str) -> (Self, String) {
        let video = VideoSettings {
            width: 320,
            height: 240,
            fps: 30,
            codec: VideoCodec::H264,
            bitrate_kbps: 400,
            x264_preset: Default::default(),
        };
        let chain = VideoChain::build(&SourceSpec::Test, &video).unwrap();
        let pay = gst::ElementFactory::make("rtph264pay")
            .property("pt", 96u32)
            .property("config-interval", -1i32)
            .build()
            .unwrap();
        let webrtcbin = samsyn_capture::webrtc::new_webrtcbin("peer", &loopback()).unwrap();
        let pipeline = gst::Pipeline::with_name("peer-sender");
        pipeline
            .add_many([chain.bin.upcast_ref::<gst::Element>(), &pay, &webrtcbin])
            .unwrap();
        chain.bin.link(&pay).unwrap();
        let sink = webrtcbin.request_pad_simple("sink_%u").unwrap();
        pay.static_pad("src").unwrap().link(&sink).unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        Self::sending(pipeline, webrtcbin, &pay.static_pad("src").unwrap(), offer)
    }

    /// A specialist speaking (a tone, Opus) on m-line `slot` of a
    /// talk-back offer, as the gateway forwards one; the other m-lines
    /// carry nothing.
    pub fn speaker(offer: &str, slot: u32) -> (Self, String) {
        let webrtcbin = samsyn_capture::webrtc::new_webrtcbin("peer", &loopback()).unwrap();
        let pipeline = gst::Pipeline::with_name("peer-speaker");
        let voice = gst::parse::bin_from_description(
            "audiotestsrc is-live=true wave=sine freq=440 volume=0.3 ! audioconvert ! \
             audioresample ! opusenc ! rtpopuspay pt=111",
            true,
        )
        .unwrap();
        pipeline
            .add_many([voice.upcast_ref::<gst::Element>(), &webrtcbin])
            .unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        // Transceivers added before the offer is applied take its m-lines
        // in order: one per m-line up to the slot's, only that one sending.
        for mline in 0..=slot {
            use gst_webrtc::WebRTCRTPTransceiverDirection as Direction;
            let pad = webrtcbin.request_pad_simple("sink_%u").unwrap();
            let transceiver = pad.property::<gst_webrtc::WebRTCRTPTransceiver>("transceiver");
            // The payloader's own caps (not the daemon's offer, which asks
            // for in-band FEC): with preferences its caps do not match,
            // webrtcbin leaves `a=ssrc` out of the answer, and the daemon
            // could not tell which m-line the packets belong to.
            transceiver.set_property(
                "codec-preferences",
                gst::Caps::builder("application/x-rtp")
                    .field("media", "audio")
                    .field("encoding-name", "OPUS")
                    .field("payload", 111i32)
                    .field("clock-rate", 48_000i32)
                    .field("encoding-params", "2")
                    .build(),
            );
            if mline == slot {
                transceiver.set_direction(Direction::Sendonly);
                voice.static_pad("src").unwrap().link(&pad).unwrap();
            } else {
                transceiver.set_direction(Direction::Inactive);
            }
        }
        Self::sending(
            pipeline,
            webrtcbin,
            &voice.static_pad("src").unwrap(),
            offer,
        )
    }

    /// Answers `offer` once the stream from `rtp` has its caps: only then
    /// does the answer announce the stream's SSRC, by which the other end
    /// tells which m-line its packets belong to.
    fn sending(
        pipeline: gst::Pipeline,
        webrtcbin: gst::Element,
        rtp: &gst::Pad,
        offer: &str,
    ) -> (Self, String) {
        super::wait_until(Duration::from_secs(5), || rtp.current_caps())
            .expect("the sender produces RTP");
        let answer = answer(&webrtcbin, offer);
        (
            Self {
                pipeline,
                webrtcbin,
                received: Arc::default(),
                decoder_sink: Arc::default(),
            },
            answer,
        )
    }

    pub fn received(&self) -> Received {
        *self.received.lock().unwrap()
    }
}

fn decode_to_counter(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    received: Arc<Mutex<Received>>,
) -> gst_app::AppSink {
    let sink = gst_app::AppSink::builder().sync(false).build();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let info = sample
                    .caps()
                    .and_then(|c| gstreamer_video::VideoInfo::from_caps(c).ok());
                let mut received = received.lock().unwrap();
                received.frames += 1;
                if received.size.is_none() {
                    received.size = info.map(|i| (i.width(), i.height()));
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    let chain = [
        gst::ElementFactory::make("rtph264depay").build().unwrap(),
        gst::ElementFactory::make("h264parse").build().unwrap(),
        gst::ElementFactory::make("avdec_h264").build().unwrap(),
        gst::ElementFactory::make("videoconvert").build().unwrap(),
        sink.clone().upcast(),
    ];
    pipeline.add_many(&chain).unwrap();
    gst::Element::link_many(&chain).unwrap();
    for element in &chain {
        element.sync_state_with_parent().unwrap();
    }
    pad.link(&chain[0].static_pad("sink").unwrap()).unwrap();
    sink
}
