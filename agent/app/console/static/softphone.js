// The console's softphone: a WebRTC call from this page to the agent (docs/console.md).
// The offer goes to POST /api/v1/webrtc/offer with every ICE candidate in it (the server does
// not trickle); the agent's live state arrives on the "bedside" data channel, one JSON message
// per fact (agent/app/console/live_feed.py). What the agent says is recorded in the page so QA
// can keep it ("What you heard").
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const GATHER_LIMIT_MS = 5000;
  let pc = null;
  let channel = null;
  let microphone = null;
  let recorder = null;
  let recorded = [];
  let callId = null;
  let ended = false;

  const status = (text, error = false) => {
    $("status").textContent = text;
    $("status").className = error ? "error" : "";
  };
  const fixed = (value) => (typeof value === "number" ? value.toFixed(2) : "–");
  const addLine = (list, text) => {
    const item = document.createElement("li");
    item.textContent = text;
    list.appendChild(item);
    list.scrollTop = list.scrollHeight;
  };
  const setInCall = (inCall) => {
    $("call").disabled = inCall;
    $("hangup").disabled = !inCall;
    for (const key of document.querySelectorAll("#keypad .key")) key.disabled = !inCall;
  };

  function show(message) {
    switch (message.type) {
      case "state":
        $("valence").textContent = fixed(message.valence);
        $("arousal").textContent = fixed(message.arousal);
        $("trend").textContent = message.trend;
        $("coherence").textContent = fixed(message.coherence);
        $("available").textContent = message.available ? "scoring" : "unavailable (the call goes on)";
        if (message.burst) $("burst").textContent = message.burst;
        $("live").dataset.updates = String(Number($("live").dataset.updates || 0) + 1);
        break;
      case "reply":
        $("node").textContent = message.node || "–";
        $("expression").textContent = message.expression;
        $("why").textContent = message.why;
        addLine($("events"), `${message.at_s.toFixed(1)} s: ${message.label} from ${message.node || "-"} (${message.expression})`);
        break;
      case "turn": {
        const t = message.timings_ms;
        $("latency").textContent = `turn ${message.turn}: first audio ${t.first_audio_ms ?? "–"} ms after speech ended ` +
          `(transcript ${t.transcript_ms ?? "–"} ms, reply ready ${t.reply_ready_ms ?? "–"} ms)`;
        break;
      }
      case "segment":
        if (message.burst) addLine($("events"), `${message.begin_s.toFixed(1)} s: ${message.burst} (${fixed(message.burst_score)})`);
        break;
      case "caption":
        if ($("captions")) addLine($("captions"), message.text);
        break;
      case "action":
        addLine($("events"), `action: ${message.kind}${message.target ? " → " + message.target : ""}` +
          (message.priority ? ` (${message.priority})` : ""));
        break;
      case "dtmf":
        addLine($("events"), `agent sent keys ${message.digits}`);
        break;
      case "ended":
        addLine($("events"), `call ended: ${message.reason}, ${message.turns} turns${message.urgent ? ", urgent" : ""}`);
        break;
      case "hangup":
        finish(`The agent hung up (${message.reason}).`);
        break;
    }
  }

  function gathered(connection) {
    if (connection.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { if (connection.iceGatheringState === "complete") resolve(); };
      connection.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, GATHER_LIMIT_MS); // whatever was gathered by then
    });
  }

  async function call() {
    ended = false;
    setInCall(true);
    $("after-call").hidden = true;
    $("events").replaceChildren();
    status("Asking for the microphone…");
    try {
      microphone = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (error) {
      setInCall(false);
      status(`No microphone: ${error.message}`, true);
      return;
    }
    pc = new RTCPeerConnection({ iceServers: [] });
    for (const track of microphone.getAudioTracks()) pc.addTrack(track, microphone);
    channel = pc.createDataChannel("bedside");
    channel.addEventListener("message", (event) => {
      try { show(JSON.parse(event.data)); } catch (error) { /* not ours: ignore */ }
    });
    pc.addEventListener("track", (event) => {
      const stream = event.streams[0] || new MediaStream([event.track]);
      $("agent-audio").srcObject = stream;
      recorded = [];
      recorder = new MediaRecorder(stream);
      recorder.addEventListener("dataavailable", (e) => { if (e.data.size) recorded.push(e.data); });
      recorder.addEventListener("stop", offerRecording);
      recorder.start(1000);
    });
    pc.addEventListener("connectionstatechange", () => {
      if (pc === null) return;
      if (pc.connectionState === "connected") status("In call.");
      if (pc.connectionState === "failed") finish("The connection failed (the agent or the network went away).", true);
    });
    status("Connecting…");
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    let response;
    try {
      response = await fetch("/api/v1/webrtc/offer", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ type: "offer", sdp: pc.localDescription.sdp }),
      });
    } catch (error) {
      finish(`The console did not answer: ${error.message}`, true);
      return;
    }
    if (!response.ok) {
      let detail = response.statusText;
      try { detail = (await response.json()).detail; } catch (error) { /* keep the status text */ }
      finish(`The agent refused the call (${response.status}): ${detail}`, true);
      return;
    }
    const answer = await response.json();
    callId = answer.call_id;
    $("softphone").dataset.callId = callId;
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
  }

  function hangUp() {
    if (channel && channel.readyState === "open") channel.send(JSON.stringify({ type: "hangup" }));
    finish("You hung up.");
  }

  function finish(text, error = false) {
    if (ended) return;
    ended = true;
    status(text, error);
    setInCall(false);
    if (recorder && recorder.state !== "inactive") recorder.stop();
    if (microphone) for (const track of microphone.getTracks()) track.stop();
    const connection = pc;
    pc = null;
    // Closing at once would cut the hang-up message off: give the channel a moment to send it.
    if (connection) setTimeout(() => connection.close(), 300);
    if (callId) {
      $("review").href = `/calls/${encodeURIComponent(callId)}`;
      $("after-call").hidden = false;
    }
    $("softphone").dataset.state = "ended";
  }

  function offerRecording() {
    if (!recorded.length) return;
    $("recording").href = URL.createObjectURL(new Blob(recorded, { type: recorder.mimeType || "audio/webm" }));
    $("recording").dataset.ready = "yes";
  }

  $("call").addEventListener("click", () => { call().catch((error) => finish(`Call failed: ${error.message}`, true)); });
  $("hangup").addEventListener("click", hangUp);
  for (const key of document.querySelectorAll("#keypad .key")) {
    key.addEventListener("click", () => {
      if (channel && channel.readyState === "open") {
        channel.send(JSON.stringify({ type: "dtmf", digits: key.dataset.digit }));
        addLine($("events"), `you pressed ${key.dataset.digit}`);
      }
    });
  }
})();
