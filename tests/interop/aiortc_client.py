#!/usr/bin/python3
"""A standard WHIP publisher or WHEP player on aiortc, a WebRTC stack that
shares no code with samsyn, GStreamer or Chromium.

The gateway's interop tests (gateway/tests/interop_aiortc.rs) run it to show
that samsyn's WHIP and WHEP endpoints work with a client that is not its own.

    aiortc_client.py whep URL TOKEN --frames N [--audio-frames N] [--timeout S]
                     [--talk] [--stay S] [--cafile PEM]
        Plays a room and prints one JSON object: the video frames decoded,
        their size, the audio frames decoded, the codec, and the time from
        the gateway's answer to the first decoded frame (first_frame_ms).
        While the room has no camera (409) it retries, as the page does.
        With --talk it speaks as a specialist does (a 440 Hz tone on its
        sendrecv audio); with --stay it keeps the session S seconds longer.
    aiortc_client.py whip URL TOKEN --seconds S [--codec h264|vp8]
                     [--width W --height H] [--cafile PEM]
        Publishes a moving test picture and a tone for S seconds, then ends
        the session with DELETE and prints one JSON object.

Exits 0 when it did what was asked, 1 with the reason on stderr otherwise.
Needs Debian's python3-aiortc (scripts/install-deps installs it).
"""

import argparse
import asyncio
import fractions
import json
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy
from av import AudioFrame, VideoFrame

from aiortc import (
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError


class Failure(Exception):
    """What went wrong, in words for the test's output."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class Session:
    """One WHIP or WHEP session: the offer POSTed, the answer, the
    `Location` to DELETE at the end."""

    def __init__(self, endpoint, token, cafile):
        self.endpoint = endpoint
        self.token = token
        self.location = None
        if endpoint.startswith("https:"):
            self.tls = ssl.create_default_context(cafile=cafile)
        else:
            self.tls = None

    def _request(self, method, url, body=None):
        request = urllib.request.Request(url, data=body, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if body is not None:
            request.add_header("Content-Type", "application/sdp")
        try:
            with urllib.request.urlopen(request, context=self.tls, timeout=10) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as err:
            body = err.read().decode(errors="replace")
            raise Failure(f"{method} {url}: {err.code} {body}", status=err.code)

    def post_offer(self, offer_sdp, wait_for_camera=0):
        """POSTs the offer; a player waits up to `wait_for_camera` seconds
        while the gateway answers 409 (no camera in the room yet), as the
        viewer page does."""
        deadline = time.monotonic() + wait_for_camera
        while True:
            try:
                status, headers, body = self._request("POST", self.endpoint, offer_sdp.encode())
                break
            except Failure as failure:
                if failure.status != 409 or time.monotonic() > deadline:
                    raise
                time.sleep(0.25)
        if status != 201:
            raise Failure(f"POST {self.endpoint}: expected 201 Created, got {status}")
        if headers.get("Content-Type", "").split(";")[0] != "application/sdp":
            raise Failure(f"the answer's Content-Type is {headers.get('Content-Type')!r}")
        location = headers.get("Location")
        if not location:
            raise Failure("the 201 has no Location header")
        self.location = urllib.parse.urljoin(self.endpoint, location)
        return body.decode()

    def delete(self):
        if self.location:
            status, _, _ = self._request("DELETE", self.location)
            if status not in (200, 204):
                raise Failure(f"DELETE {self.location}: {status}")


async def negotiate(pc, session, wait_for_camera=0):
    """Non-trickle, as RFC 9725 allows: aiortc gathers every candidate
    before the offer is sent."""
    await pc.setLocalDescription(await pc.createOffer())
    loop = asyncio.get_running_loop()
    answer = await loop.run_in_executor(
        None, session.post_offer, pc.localDescription.sdp, wait_for_camera
    )
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))


async def play(args):
    session = Session(args.url, args.token, args.cafile)
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    if args.talk:
        # The camera's sound comes back on the same m-line.
        pc.addTransceiver(Tone(), direction="sendrecv")
    else:
        pc.addTransceiver("audio", direction="recvonly")
    report = {"frames": 0, "width": 0, "height": 0, "audio_frames": 0}
    enough = asyncio.Event()
    started = None  # when the answer came

    async def read_video(track):
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if report["frames"] == 0:
                report["first_frame_ms"] = round((time.monotonic() - started) * 1000)
            report["frames"] += 1
            report["width"], report["height"] = frame.width, frame.height
            if report["frames"] >= args.frames and report["audio_frames"] >= args.audio_frames:
                enough.set()

    async def read_audio(track):
        while True:
            try:
                await track.recv()
            except MediaStreamError:
                return
            report["audio_frames"] += 1
            if report["frames"] >= args.frames and report["audio_frames"] >= args.audio_frames:
                enough.set()

    readers = []

    @pc.on("track")
    def on_track(track):
        reader = read_video if track.kind == "video" else read_audio
        readers.append(asyncio.ensure_future(reader(track)))

    try:
        await negotiate(pc, session, wait_for_camera=args.timeout)
        started = time.monotonic()
        try:
            await asyncio.wait_for(enough.wait(), args.timeout)
        except asyncio.TimeoutError:
            raise Failure(
                f"after {args.timeout} s: {report['frames']} video frames "
                f"(wanted {args.frames}) and {report['audio_frames']} audio frames "
                f"(wanted {args.audio_frames}); "
                f"connection {pc.connectionState}"
            )
        report["codec"] = negotiated_codec(pc, "video")
        await asyncio.sleep(args.stay)
        await asyncio.get_running_loop().run_in_executor(None, session.delete)
    finally:
        for reader in readers:
            reader.cancel()
        await pc.close()
    return report


class Tone(AudioStreamTrack):
    """A specialist's voice: a steady 440 Hz tone at -20 dBFS, 20 ms a frame,
    paced in real time."""

    RATE = 48000
    SAMPLES = 960

    def __init__(self):
        super().__init__()
        self.sent = 0
        self.start = None

    async def recv(self):
        if self.start is None:
            self.start = time.monotonic()
        else:
            due = self.start + self.sent / self.RATE
            await asyncio.sleep(max(0, due - time.monotonic()))
        t = (numpy.arange(self.SAMPLES) + self.sent) / self.RATE
        samples = (0.1 * 32767 * numpy.sin(2 * numpy.pi * 440 * t)).astype(numpy.int16)
        frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.pts = self.sent
        frame.sample_rate = self.RATE
        frame.time_base = fractions.Fraction(1, self.RATE)
        self.sent += self.SAMPLES
        return frame


class MovingPicture(VideoStreamTrack):
    """A bar sweeping across a gradient: every frame differs, so the encoder
    sends real inter frames, not a still."""

    def __init__(self, width, height):
        super().__init__()
        self.width, self.height = width, height
        self.gradient = numpy.tile(
            numpy.linspace(0, 255, width, dtype=numpy.uint8), (height, 1)
        )
        self.count = 0

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        picture = numpy.empty((self.height, self.width, 3), dtype=numpy.uint8)
        picture[:, :, 0] = self.gradient
        picture[:, :, 1] = 128
        picture[:, :, 2] = 255 - self.gradient
        bar = (self.count * 8) % self.width
        picture[:, bar : bar + 16, :] = 255
        self.count += 1
        frame = VideoFrame.from_ndarray(picture, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        return frame


def negotiated_codec(pc, kind):
    """The codec the answer chose for `kind`: its m-line's first payload
    type, by its rtpmap."""
    section = None
    for line in pc.remoteDescription.sdp.splitlines():
        if line.startswith("m="):
            fields = line[2:].split()
            section = fields[3] if fields[0] == kind and len(fields) > 3 else None
        elif section and line.startswith(f"a=rtpmap:{section} "):
            return line.split(" ", 1)[1].split("/")[0]
    return None


async def publish(args):
    session = Session(args.url, args.token, args.cafile)
    pc = RTCPeerConnection()
    picture = MovingPicture(args.width, args.height)
    transceiver = pc.addTransceiver(picture, direction="sendonly")
    wanted = f"video/{args.codec.upper()}" if args.codec == "vp8" else "video/H264"
    preferred = [
        codec
        for codec in RTCRtpSender.getCapabilities("video").codecs
        if codec.mimeType.lower() == wanted.lower()
    ]
    transceiver.setCodecPreferences(preferred)
    # The nurse's voice: in its own m-line, with its own ICE credentials
    # under aiortc's default bundle policy.
    pc.addTransceiver(Tone(), direction="sendonly")
    connected = asyncio.Event()

    @pc.on("connectionstatechange")
    def on_state():
        if pc.connectionState == "connected":
            connected.set()

    try:
        await negotiate(pc, session)
        try:
            await asyncio.wait_for(connected.wait(), 10)
        except asyncio.TimeoutError:
            raise Failure(f"not connected after 10 s: connection {pc.connectionState}")
        await asyncio.sleep(args.seconds)
        report = {"frames_sent": picture.count, "codec": negotiated_codec(pc, "video")}
        await asyncio.get_running_loop().run_in_executor(None, session.delete)
    finally:
        await pc.close()
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("whep", "whip"):
        command = commands.add_parser(name)
        command.add_argument("url", help=f"the room's {name.upper()} endpoint")
        command.add_argument("token", help="the bearer token")
        command.add_argument("--cafile", help="the gateway's certificate, when self-signed")
    whep = commands.choices["whep"]
    whep.add_argument("--frames", type=int, default=30, help="video frames to decode")
    whep.add_argument("--audio-frames", type=int, default=0, help="audio frames to decode")
    whep.add_argument("--timeout", type=float, default=15, help="seconds to wait for them")
    whep.add_argument("--talk", action="store_true", help="speak (a tone) as a specialist")
    whep.add_argument("--stay", type=float, default=0, help="seconds to stay after that")
    whip = commands.choices["whip"]
    whip.add_argument("--seconds", type=float, default=10, help="how long to publish")
    whip.add_argument("--codec", choices=("h264", "vp8"), default="h264")
    whip.add_argument("--width", type=int, default=640)
    whip.add_argument("--height", type=int, default=360)
    args = parser.parse_args()
    try:
        report = asyncio.run(play(args) if args.command == "whep" else publish(args))
    except Failure as failure:
        print(f"aiortc {args.command}: {failure}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
