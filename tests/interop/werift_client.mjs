// A standard WHEP player on werift, a WebRTC stack in TypeScript that shares
// no code with samsyn, GStreamer, Chromium or aiortc. It does not decode: it
// counts the RTP it receives and decrypts, and the H.264 keyframes in it.
//
//   node werift_client.mjs --url URL --token TOKEN [--packets N] [--timeout S]
//                          [--ice-address IP]
//
// werift leaves interfaces named veth… out of ICE (its own list of networks
// to skip), so in the test namespace the address to use is given: it is
// added as a host candidate. No STUN server is asked (werift's default
// would be Google's).
//
// Prints one JSON object: video and audio packets received, keyframes seen,
// the video codec the answer chose, and ms from the answer to the first
// keyframe. Exits 1 with the reason on stderr when it could not.

import { parseArgs } from "node:util";
import { RTCPeerConnection, useH264, useOPUS, useVP8 } from "werift";

const { values: args } = parseArgs({
  options: {
    url: { type: "string" },
    token: { type: "string" },
    packets: { type: "string", default: "200" },
    timeout: { type: "string", default: "20" },
    "ice-address": { type: "string" },
  },
});
const wanted = Number(args.packets);
const deadline = Date.now() + Number(args.timeout) * 1000;

function fail(why) {
  console.error(`werift whep: ${why}`);
  process.exit(1);
}

/// H.264 (RFC 6184): an IDR slice, alone or first in a STAP-A or FU-A.
function startsH264Keyframe(payload) {
  const type = payload[0] & 0x1f;
  if (type === 5) return true;
  if (type === 24) return (payload[3] & 0x1f) === 5 || (payload[3] & 0x1f) === 7;
  if (type === 28) return (payload[1] & 0x80) !== 0 && (payload[1] & 0x1f) === 5;
  return type === 7;
}

async function postOffer(sdp) {
  // While the room has no camera the gateway answers 409; the page retries.
  for (;;) {
    const response = await fetch(args.url, {
      method: "POST",
      headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${args.token}` },
      body: sdp,
    });
    const body = await response.text();
    if (response.status === 201) {
      const location = response.headers.get("location");
      if (!location) fail("the 201 has no Location header");
      return { answer: body, location: new URL(location, args.url).href };
    }
    if (response.status !== 409 || Date.now() > deadline) {
      fail(`POST ${args.url}: ${response.status} ${body}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

// werift offers VP8 alone unless told otherwise; a hospital player takes
// H.264 too. The bundle policy stays werift's default ("max-compat").
const pc = new RTCPeerConnection({
  codecs: { video: [useH264(), useVP8()], audio: [useOPUS()] },
  iceServers: [],
  iceAdditionalHostAddresses: args["ice-address"] ? [args["ice-address"]] : undefined,
});
pc.addTransceiver("video", { direction: "recvonly" });
pc.addTransceiver("audio", { direction: "recvonly" });
const report = { video_packets: 0, audio_packets: 0, keyframes: 0 };
let answeredAt;
pc.onTrack.subscribe((track) => {
  track.onReceiveRtp.subscribe((rtp) => {
    if (track.kind === "audio") {
      report.audio_packets += 1;
      return;
    }
    report.video_packets += 1;
    if (startsH264Keyframe(rtp.payload)) {
      report.keyframes += 1;
      report.first_keyframe_ms ??= Date.now() - answeredAt;
    }
  });
});

await pc.setLocalDescription(await pc.createOffer());
// Non-trickle: every candidate in the offer.
if (pc.iceGatheringState !== "complete") {
  await new Promise((resolve) =>
    pc.iceGatheringStateChange.subscribe((state) => state === "complete" && resolve()),
  );
}
const { answer, location } = await postOffer(pc.localDescription.sdp);
answeredAt = Date.now();
await pc.setRemoteDescription({ type: "answer", sdp: answer });
const video = answer.split(/\r?\n/).find((l) => l.startsWith("m=video"));
const pt = video?.split(" ")[3];
report.codec = answer
  .split(/\r?\n/)
  .find((l) => l.startsWith(`a=rtpmap:${pt} `))
  ?.split(" ")[1]
  .split("/")[0];

while (report.video_packets < wanted || report.audio_packets < 50 || report.keyframes === 0) {
  if (Date.now() > deadline) {
    fail(`after ${args.timeout} s: ${JSON.stringify(report)}; connection ${pc.connectionState}`);
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
}
const deleted = await fetch(location, {
  method: "DELETE",
  headers: { Authorization: `Bearer ${args.token}` },
});
if (!deleted.ok) fail(`DELETE ${location}: ${deleted.status}`);
await pc.close();
console.log(JSON.stringify(report));
process.exit(0);
