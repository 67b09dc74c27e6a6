// rtcstack demo: the browser side of `rtcstack demo`.
//
// One page, no libraries.  It talks to the server's WebSocket signaling (rooms, presence and a
// relay; the protocol is documented in rtcstack/asyncio/signaling.py), calls one peer per room
// with W3C perfect negotiation, and shows a small webrtc-internals: graphs of this browser's
// getStats() and of the other side's, which arrives once a second over a data channel.
//
// Calling "the Python peer" is nothing special here: the page joins a room whose name starts
// with the server's echoPrefix, the server sends its rtcstack echo peer into that room, and the
// page calls it exactly as it would call another browser.

'use strict';

const $ = (id) => document.getElementById(id);

const ROOM_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const HISTORY = 60;            // graph samples kept, one a second
const STATS_BUFFER_LIMIT = 256 * 1024;   // skip a stats message while this much is still queued

// The graphs of each stats panel: one canvas per metric, one line per series.
const COLOR = {video: '#4cc9f0', audio: '#ffb703', rtt: '#80ed99', dropped: '#ff5d73'};
const METRICS = [
  {metric: 'send-bitrate', title: 'Send bitrate', unit: 'kbit/s',
   series: [{key: 'video', color: COLOR.video}, {key: 'audio', color: COLOR.audio}]},
  {metric: 'recv-bitrate', title: 'Receive bitrate', unit: 'kbit/s',
   series: [{key: 'video', color: COLOR.video}, {key: 'audio', color: COLOR.audio}]},
  {metric: 'rtt', title: 'Round-trip time', unit: 'ms',
   series: [{key: 'rtt', color: COLOR.rtt}]},
  {metric: 'packets-lost', title: 'Packets lost', unit: 'total received',
   series: [{key: 'video', color: COLOR.video}, {key: 'audio', color: COLOR.audio}]},
  {metric: 'jitter', title: 'Jitter', unit: 'ms, received',
   series: [{key: 'video', color: COLOR.video}, {key: 'audio', color: COLOR.audio}]},
  {metric: 'frames', title: 'Video frames', unit: 'received per s',
   series: [{key: 'decoded', color: COLOR.video}, {key: 'dropped', color: COLOR.dropped}]},
];

// Stats types worth sending when a whole report would not fit in one data channel message.
const SUMMARIZED_TYPES = new Set(['outbound-rtp', 'inbound-rtp', 'remote-inbound-rtp', 'codec',
  'candidate-pair', 'local-candidate', 'remote-candidate', 'transport']);

const app = {
  ws: null,
  signaling: 'connecting',      // the WebSocket: connecting | open | closed
  signalingOpen: null,          // a promise of true (open) or false (it closed first)
  config: {iceServers: [], echoPrefix: 'echo-', version: null},
  configLoaded: null,           // a promise, settled once /config was tried
  localStream: null,
  media: null,                  // 'camera' | 'synthetic', once the local stream exists
  mediaReady: null,             // a promise, settled once localStream is set
  audioContext: null,           // the synthetic beep's, made by the first call (a click)
  joining: null,                // {room, sent}: a join asked for and not yet answered
  pendingLeaves: 0,             // leave requests the server has not answered yet
  room: null,                   // the room joined, with our id and the others in it
  id: null,
  members: new Map(),           // id -> name (or null) of everyone else in the room
  rtcConfig: {},                // RTCConfiguration: read from the form when joining
  call: null,                   // the current call (see startCall), or null
  lastPc: null,                 // the latest RTCPeerConnection: its states outlive the call
  chat: [],
  framesDecoded: 0,
  lastError: null,
};

let panels = null;              // {local, remote}: the two StatsPanels

// --- status line and notice -------------------------------------------------------------------

function setStatus(text, isError = false) {
  const status = $('status');
  status.textContent = text;
  status.title = text;
  status.classList.toggle('error', isError);
  if (isError) app.lastError = text;
}

// Notices are lines under the controls, one per topic (key), until hidden.
function showNotice(key, text, action = null) {
  const line = document.createElement('p');
  line.dataset.key = key;
  line.append(text);
  if (action) {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = action.label;
    button.addEventListener('click', action.run);
    line.append(button);
  }
  hideNotice(key);
  $('notice').append(line);
  $('notice').hidden = false;
}

function hideNotice(key) {
  const notice = $('notice');
  for (const line of [...notice.children]) if (line.dataset.key === key) line.remove();
  notice.hidden = notice.children.length === 0;
}

function peerLabel(peer) {
  return peer.name || `peer ${peer.id.slice(0, 6)}`;
}

function displayName() {
  return $('name').value.trim().slice(0, 64) || null;
}

function isEchoRoom(room) {
  return room.startsWith(app.config.echoPrefix);
}

function busy() {
  return Boolean(app.room || app.joining || app.call);
}

// Buttons, presence list and the remote caption follow the state; call after every change.
function refresh() {
  const closed = app.signaling === 'closed';
  $('call-echo').disabled = closed || busy();
  $('join').disabled = closed || busy();
  $('hangup').disabled = !busy();

  const audio = app.localStream?.getAudioTracks()[0];
  const video = app.localStream?.getVideoTracks()[0];
  $('mute').disabled = !audio;
  $('mute').textContent = audio && !audio.enabled ? 'Unmute' : 'Mute';
  $('camera').disabled = !video;
  $('camera').textContent = video && !video.enabled ? 'Camera on' : 'Camera off';
  $('local-figure').classList.toggle('muted', Boolean(audio && !audio.enabled));
  $('local-figure').classList.toggle('camera-off', Boolean(video && !video.enabled));

  const call = app.call;
  $('remote-caption').textContent = call
    ? `${peerLabel(call.peer)} · ${call.pc.connectionState}` : 'Nobody yet';
  renderPeers();
}

function renderPeers() {
  const list = $('peers');
  list.replaceChildren();
  if (!app.room) return;
  const item = (text, tag = '', className = '') => {
    const li = document.createElement('li');
    li.textContent = text;
    if (tag) {
      const span = document.createElement('span');
      span.className = 'tag';
      span.textContent = tag;
      li.append(' ', span);
    }
    if (className) li.className = className;
    list.append(li);
    return li;
  };
  const count = app.members.size + 1;
  item(`In room ${app.room}`, `${count} ${count === 1 ? 'person' : 'people'}`);
  item(`• ${displayName() || 'you'}`, '(you)');
  for (const [id, name] of app.members) {
    const tag = app.call?.peer.id === id ? 'in the call'
      : app.call ? 'not called: room busy' : 'waiting';
    item(`• ${peerLabel({id, name})}`, tag);
  }
  if (!isEchoRoom(app.room)) {
    const link = `${location.origin}${location.pathname}?room=${encodeURIComponent(app.room)}`;
    item(`Invite: ${link}`, '', 'invite');
  }
}

// --- signaling ---------------------------------------------------------------------------------

function connectSignaling() {
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
  const ws = new WebSocket(url);
  app.ws = ws;
  app.signalingOpen = new Promise((resolve) => {
    ws.addEventListener('open', () => resolve(true));
    ws.addEventListener('close', () => resolve(false));
  });
  ws.addEventListener('open', () => {
    app.signaling = 'open';
    if (!busy()) setStatus('Ready: call the Python peer, or join a room.');
    refresh();
  });
  ws.addEventListener('close', () => {
    app.signaling = 'closed';
    // Without signaling no new call can start, and the server has told the peer we left.
    endCall();
    resetRoom();
    setStatus('The signaling connection closed; reload the page to reconnect.', true);
    showNotice('signaling', 'Disconnected from the signaling server.',
               {label: 'Reload', run: () => location.reload()});
    refresh();
  });
  ws.addEventListener('message', ({data}) => {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    if (message && typeof message === 'object') onSignalingMessage(message);
  });
}

function send(message) {
  if (app.ws?.readyState !== WebSocket.OPEN) return false;
  app.ws.send(JSON.stringify(message));
  return true;
}

function onSignalingMessage(message) {
  // The server answers in order: until it has answered our leave requests, whatever concerns
  // a room comes from the one we left.
  const stale = app.pendingLeaves > 0;
  switch (message.type) {
    case 'joined':
      if (!stale) onJoined(message);
      break;
    case 'peer-joined':
      if (!stale && app.room) onPeerJoined({id: String(message.id), name: message.name ?? null});
      break;
    case 'peer-left':
      if (!stale && app.room) onPeerLeft(String(message.id));
      break;
    case 'left':
      app.pendingLeaves = Math.max(0, app.pendingLeaves - 1);
      break;
    case 'signal':
      if (!stale && app.call && message.from === app.call.peer.id
          && message.data && typeof message.data === 'object') {
        onSignal(app.call, message.data);
      }
      break;
    case 'error':
      if (message.request === 'leave' && app.pendingLeaves > 0) {
        app.pendingLeaves -= 1;   // nothing to leave after all
        break;
      }
      if (message.request === 'join') app.joining = null;
      setStatus(`Signaling server: ${message.reason ?? 'error'}`, true);
      refresh();
      break;
    default:
      break;   // a newer server's message type: nothing to do with it
  }
}

function onJoined(message) {
  if (!app.joining || message.room !== app.joining.room) return;
  app.joining = null;
  app.room = message.room;
  app.id = String(message.id);
  const peers = Array.isArray(message.peers) ? message.peers : [];
  app.members = new Map(peers.map((p) => [String(p.id), p.name ?? null]));

  if (!isEchoRoom(app.room)) {
    const url = new URL(location.href);
    url.searchParams.set('room', app.room);
    history.replaceState(null, '', url);
  }
  if (peers.length === 0) {
    setStatus(isEchoRoom(app.room)
      ? 'Waiting for the rtcstack echo peer to join…'
      : `In room ${app.room}: waiting for someone to join it.`);
  } else if (peers.length === 1) {
    // We joined a room where someone already was: we are the polite peer.
    const [first] = app.members;
    startCall({id: first[0], name: first[1]}, true);
  } else {
    const room = app.room;
    leaveRoom();
    setStatus(`Room ${room} is busy: ${peers.length} people are already in it. Try another room.`,
              true);
  }
  refresh();
}

function onPeerJoined(peer) {
  app.members.set(peer.id, peer.name);
  // We were in the room first: we are the impolite peer.  A third member is listed, not called.
  if (!app.call) startCall(peer, false);
  refresh();
}

function onPeerLeft(id) {
  const name = peerLabel({id, name: app.members.get(id) ?? null});
  app.members.delete(id);
  if (app.call?.peer.id === id) {
    hangUp(`${name} left the call.`);
  } else {
    refresh();
  }
}

function resetRoom() {
  app.room = null;
  app.id = null;
  app.joining = null;
  app.members = new Map();
}

function leaveRoom() {
  if ((app.room || app.joining?.sent) && send({type: 'leave'})) app.pendingLeaves += 1;
  resetRoom();
}

// --- joining and hanging up --------------------------------------------------------------------

async function join(room) {
  room = String(room ?? $('room').value).trim();
  if (busy()) {
    setStatus('Already in a call or a room: hang up first.', true);
    return false;
  }
  if (!ROOM_NAME.test(room)) {
    setStatus('A room name is 1 to 64 letters, digits, "_" or "-".', true);
    return false;
  }
  let rtcConfig;
  try {
    rtcConfig = readIceSettings();
  } catch (err) {
    setStatus(`ICE servers: ${err.message}`, true);
    return false;
  }
  if (!isEchoRoom(room)) $('room').value = room;
  const joining = {room, sent: false};
  app.joining = joining;
  setStatus(`Joining room ${room}…`);
  refresh();

  const [open] = await Promise.all([app.signalingOpen, app.mediaReady]);
  if (app.joining !== joining) return false;   // hung up meanwhile
  if (!open) {
    app.joining = null;
    refresh();
    return false;
  }
  if (app.media === 'synthetic') startSyntheticBeep();
  app.rtcConfig = rtcConfig;
  joining.sent = send({type: 'join', room, name: displayName()});
  return joining.sent;
}

async function callEcho() {
  if (busy()) {
    setStatus('Already in a call or a room: hang up first.', true);
    return false;
  }
  await app.configLoaded;
  const bytes = crypto.getRandomValues(new Uint8Array(4));
  const suffix = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return join(app.config.echoPrefix + suffix);
}

// Hang up: close the peer connection and leave the room; the local preview stays.  Also how a
// call ends when the peer leaves or the connection fails.
function hangUp(reason = 'Call ended.', isError = false) {
  if (!busy()) return;
  endCall();
  leaveRoom();
  setStatus(reason, isError);
  refresh();
}

// --- the call ----------------------------------------------------------------------------------

// One call with one peer: an RTCPeerConnection with our tracks and the two negotiated data
// channels, driven by perfect negotiation.  Every handler checks that its call is still the
// current one, since a closed call's promises can settle after the next call started.
function startCall(peer, polite) {
  let pc;
  try {
    pc = new RTCPeerConnection(app.rtcConfig);
  } catch (err) {
    leaveRoom();
    setStatus(`Cannot create the peer connection: ${err.message}`, true);
    return;
  }
  const call = {
    peer, polite, pc,
    // WebRTC 1.0 §10.7 "Perfect negotiation example" state.
    makingOffer: false,
    ignoreOffer: false,
    isSettingRemoteAnswerPending: false,
    remoteStream: new MediaStream(),
    collecting: false,   // a getStats() is in flight
    chat: null,
    stats: null,
  };
  app.call = call;
  app.lastPc = pc;
  app.framesDecoded = 0;
  panels.local.reset();
  panels.remote.reset();
  $('stats-remote-from').textContent = 'its getStats(), via the stats channel';
  $('remote-video').muted = false;   // playRemote() mutes it again if autoplay says so
  $('remote-video').srcObject = call.remoteStream;
  addChatDivider(`Call with ${peerLabel(peer)}`);

  for (const track of app.localStream.getTracks()) pc.addTrack(track, app.localStream);
  // Negotiated channels (RFC 8832 is not used): both sides create the same id, so neither
  // waits for the other's DCEP open and there is no race over who creates them.
  call.chat = pc.createDataChannel('chat', {negotiated: true, id: 0});
  call.stats = pc.createDataChannel('stats', {negotiated: true, id: 1});
  call.chat.addEventListener('message', ({data}) => {
    if (app.call === call) receiveChat(data);
  });
  call.stats.addEventListener('message', ({data}) => receiveStats(call, data));

  pc.addEventListener('track', ({track}) => {
    if (app.call !== call) return;
    call.remoteStream.addTrack(track);
    playRemote();
  });

  pc.addEventListener('negotiationneeded', async () => {
    // The polite peer leaves the call's first offer to the impolite one: its addTrack
    // transceivers and the negotiated channels then take the offer's sections, and its answer
    // needs no second round.  onSignal() resolves any later collision, but rolling back the
    // very first offer left Chromium 156's polite side with no ICE candidates (gathering
    // stuck, "Role Conflict" STUN errors) in about half the calls, so that one is avoided.
    if (call.polite && !pc.remoteDescription) return;
    try {
      call.makingOffer = true;
      await pc.setLocalDescription();   // implicitly createOffer() (or the answer, if due)
      sendSignal(call, {description: pc.localDescription});
    } catch (err) {
      callError(call, 'Negotiation failed', err);
    } finally {
      call.makingOffer = false;
    }
  });

  pc.addEventListener('icecandidate', ({candidate}) => {
    if (app.call !== call) return;
    // Firefox also reports an empty candidate per generation; the null that follows is the
    // end-of-candidates the other side needs.
    if (candidate && !candidate.candidate) return;
    sendSignal(call, {candidate: candidate ? candidate.toJSON() : null});
  });

  pc.addEventListener('connectionstatechange', () => {
    if (app.call !== call) return;
    const who = peerLabel(peer);
    switch (pc.connectionState) {
      case 'connecting':
        setStatus(`Connecting to ${who} (ICE, then DTLS)…`);
        break;
      case 'connected':
        setStatus(`Connected to ${who}.`);
        break;
      case 'disconnected':
        setStatus(`The connection to ${who} is interrupted; waiting for ICE to recover…`);
        break;
      case 'failed': {
        const turn = app.rtcConfig.iceServers.some((s) => s.username);
        hangUp(`The connection to ${who} failed${turn ? '' :
          ' (across NATs a TURN server is usually needed)'}.`, true);
        return;
      }
      default:
        break;
    }
    refresh();
  });

  setStatus(`Calling ${peerLabel(peer)}…`);
}

function endCall() {
  const call = app.call;
  if (!call) return;
  app.call = null;
  call.pc.close();   // also closes the data channels and ends the remote tracks
  $('remote-video').srcObject = null;
  hideNotice('autoplay');
  addChatDivider('Call ended');
}

function sendSignal(call, data) {
  if (app.call === call) send({type: 'signal', to: call.peer.id, data});
}

function callError(call, what, err) {
  if (app.call !== call) return;   // a closed call's operations fail; that is expected
  console.error(what, err);
  setStatus(`${what}: ${err.message}`, true);
}

// WebRTC 1.0 §10.7 "Perfect negotiation example", as written there.  Either side may offer;
// when offers collide the impolite peer ignores the incoming one and the polite peer gives
// way: setRemoteDescription with an offer in have-local-offer rolls its own back implicitly.
async function onSignal(call, {description, candidate}) {
  const {pc} = call;
  try {
    if (description) {
      const readyForOffer = !call.makingOffer
        && (pc.signalingState === 'stable' || call.isSettingRemoteAnswerPending);
      const offerCollision = description.type === 'offer' && !readyForOffer;
      call.ignoreOffer = !call.polite && offerCollision;
      if (call.ignoreOffer) return;
      call.isSettingRemoteAnswerPending = description.type === 'answer';
      await pc.setRemoteDescription(description);
      call.isSettingRemoteAnswerPending = false;
      if (description.type === 'offer') {
        await pc.setLocalDescription();   // implicitly createAnswer()
        sendSignal(call, {description: pc.localDescription});
      }
    } else if (candidate !== undefined) {
      try {
        // null: the end of the peer's candidates (addIceCandidate() without a candidate).
        await (candidate === null ? pc.addIceCandidate() : pc.addIceCandidate(candidate));
      } catch (err) {
        if (!call.ignoreOffer) throw err;   // candidates of the offer we ignored fail; fine
      }
    }
  } catch (err) {
    callError(call, 'Signaling', err);
  }
}

function playRemote() {
  const video = $('remote-video');
  video.play().catch((err) => {
    if (err.name !== 'NotAllowedError') return;   // AbortError: a newer source took over
    // Autoplay policy: sound needs a click on this page first.  Play muted meanwhile.
    video.muted = true;
    video.play().catch(() => {});
    showNotice('autoplay', 'The browser held back the sound of the call until you click.', {
      label: 'Unmute',
      run: () => {
        video.muted = false;
        hideNotice('autoplay');
      },
    });
  });
}

// --- local media -------------------------------------------------------------------------------

async function startLocalMedia() {
  let stream;
  try {
    if (!navigator.mediaDevices?.getUserMedia) {
      throw new Error(window.isSecureContext ? 'this browser has no getUserMedia'
        : 'the camera needs https, or http://localhost');
    }
    stream = await navigator.mediaDevices.getUserMedia(
      {audio: true, video: {width: 640, height: 480}});
    app.media = 'camera';
    $('local-source').textContent = '(camera)';
  } catch (err) {
    stream = syntheticStream();
    app.media = 'synthetic';
    $('local-source').textContent = '(test pattern)';
    showNotice('media', `No camera or microphone (${err.message || err.name}): a call sends a `
               + 'moving test pattern and a quiet beep instead.');
  }
  app.localStream = stream;
  $('local-video').srcObject = stream;
  refresh();
}

// A stand-in for the camera: a canvas with a clock and a bouncing ball, as a video track.
function syntheticStream() {
  const canvas = document.createElement('canvas');
  canvas.width = 640;
  canvas.height = 480;
  const ctx = canvas.getContext('2d');
  const start = performance.now();
  const draw = () => {
    const t = (performance.now() - start) / 1000;
    ctx.fillStyle = '#16324f';
    ctx.fillRect(0, 0, 640, 480);
    ctx.fillStyle = '#ffb703';
    ctx.beginPath();
    ctx.arc(60 + Math.abs(((t * 230) % 1040) - 520), 440 - Math.abs(Math.sin(t * 2.4)) * 180,
            28, 0, 2 * Math.PI);
    ctx.fill();
    ctx.fillStyle = '#ffffff';
    ctx.textAlign = 'center';
    ctx.font = '24px sans-serif';
    ctx.fillText('rtcstack demo · test pattern (no camera)', 320, 50);
    ctx.font = 'bold 64px monospace';
    ctx.fillText(new Date().toLocaleTimeString(), 320, 190);
  };
  draw();
  setInterval(draw, 1000 / 30);
  return canvas.captureStream(30);
}

// A stand-in for the microphone: a short quiet beep every second (WebAudio).  Made by the first
// call rather than at load: browsers start an AudioContext only once the page was clicked.
function startSyntheticBeep() {
  if (!window.AudioContext) return;
  if (app.audioContext) {
    // Made without a click, it is suspended: try again (it stays silent if still not allowed).
    app.audioContext.resume().catch(() => {});
    return;
  }
  const audio = new AudioContext();
  const oscillator = audio.createOscillator();
  oscillator.frequency.value = 880;
  const gain = audio.createGain();
  gain.gain.value = 0;
  const destination = audio.createMediaStreamDestination();
  oscillator.connect(gain).connect(destination);
  oscillator.start();
  setInterval(() => {
    const now = audio.currentTime;
    gain.gain.setValueAtTime(0.05, now);
    gain.gain.setValueAtTime(0, now + 0.08);
  }, 1000);
  app.localStream.addTrack(destination.stream.getAudioTracks()[0]);
  app.audioContext = audio;
  refresh();
}

// Mute keeps the sender (the peer gets silence); returns true when now muted.
function toggleMute() {
  const track = app.localStream?.getAudioTracks()[0];
  if (!track) return false;
  track.enabled = !track.enabled;
  refresh();
  return !track.enabled;
}

// Camera off keeps the sender (the peer gets black frames); returns true when the camera is on.
function toggleCamera() {
  const track = app.localStream?.getVideoTracks()[0];
  if (!track) return false;
  track.enabled = !track.enabled;
  refresh();
  return track.enabled;
}

// --- ICE servers -------------------------------------------------------------------------------

// The form as an RTCConfiguration: the STUN URLs in one RTCIceServer, the TURN URLs with the
// username and credential in another, and the relay-only choice.  Throws with a readable
// message if something is wrong.
function readIceSettings() {
  const urls = $('ice-urls').value.split('\n').map((line) => line.trim()).filter(Boolean);
  const wrong = urls.find((url) => !/^(stuns?|turns?):/i.test(url));
  if (wrong) throw new Error(`"${wrong}" is not a stun:, turn: or turns: URL`);
  const stun = urls.filter((url) => /^stuns?:/i.test(url));
  const turn = urls.filter((url) => /^turns?:/i.test(url));
  const username = $('ice-username').value;
  const credential = $('ice-credential').value;
  if (turn.length && !(username && credential)) {
    throw new Error('a TURN server needs a username and a credential');
  }
  const relayOnly = $('ice-relay').checked;
  if (relayOnly && !turn.length) throw new Error('relay only needs a TURN server');
  const iceServers = [];
  if (stun.length) iceServers.push({urls: stun});
  if (turn.length) iceServers.push({urls: turn, username, credential});
  const config = {iceServers, iceTransportPolicy: relayOnly ? 'relay' : 'all'};
  // Let the browser check the URLs now rather than when a peer shows up.
  new RTCPeerConnection(config).close();
  return config;
}

async function loadConfig() {
  try {
    const response = await fetch('/config', {cache: 'no-store'});
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const config = await response.json();
    if (typeof config.echoPrefix === 'string' && config.echoPrefix) {
      app.config.echoPrefix = config.echoPrefix;
    }
    if (Array.isArray(config.iceServers)) app.config.iceServers = config.iceServers;
    if (config.version) {
      app.config.version = String(config.version);
      $('version').textContent = `rtcstack ${app.config.version}`;
    }
  } catch (err) {
    app.lastError = `Could not load /config (${err.message}); no ICE servers preset.`;
  }
  // Prefill the form unless the user has already typed in it.
  if (!$('ice-urls').value) {
    const servers = app.config.iceServers.filter((s) => s && typeof s === 'object');
    $('ice-urls').value = servers.flatMap((s) => [].concat(s.urls ?? []))
      .filter((url) => typeof url === 'string').join('\n');
    const withCredential = servers.find((s) => s.username || s.credential);
    if (withCredential) {
      $('ice-username').value = withCredential.username ?? '';
      $('ice-credential').value = withCredential.credential ?? '';
    }
  }
}

// --- chat --------------------------------------------------------------------------------------

function sendChat(text) {
  text = String(text ?? $('chat-input').value).trim();
  if (!text) return false;
  const channel = app.call?.chat;
  if (channel?.readyState !== 'open') {
    setStatus('The chat opens once a call is connected.', true);
    return false;
  }
  const name = displayName() || 'browser';
  const sent = Date.now();
  channel.send(JSON.stringify({text, name, sent}));
  addChatMessage('me', name, text, sent);
  return true;
}

function receiveChat(raw) {
  if (typeof raw !== 'string') return;
  let message = null;
  try {
    message = JSON.parse(raw);
  } catch {
    // not JSON: shown as it is
  }
  if (typeof message?.text === 'string') {
    addChatMessage('peer', String(message.name ?? peerLabel(app.call.peer)), message.text,
                   Number.isFinite(message.sent) ? message.sent : Date.now());
  } else {
    addChatMessage('peer', peerLabel(app.call.peer), raw, Date.now());
  }
}

function addChatMessage(from, name, text, sent) {
  app.chat.push({from, name, text});
  const element = document.createElement('div');
  element.className = 'chat-message';
  element.dataset.from = from;
  const meta = document.createElement('span');
  meta.className = 'chat-meta';
  meta.textContent = `${name} · ${new Date(sent).toLocaleTimeString()}`;
  element.append(meta, text);
  appendToChatLog(element);
}

function addChatDivider(text) {
  const element = document.createElement('div');
  element.className = 'chat-divider';
  element.textContent = `— ${text} —`;
  appendToChatLog(element);
}

function appendToChatLog(element) {
  const log = $('chat-log');
  log.append(element);
  log.scrollTop = log.scrollHeight;
}

// --- statistics --------------------------------------------------------------------------------

// getStats() resolves to a maplike RTCStatsReport; the stats channel carries a JSON array.
function statsList(report) {
  if (Array.isArray(report)) return report.filter((s) => s && typeof s === 'object');
  if (report && typeof report.values === 'function') return Array.from(report.values());
  return [];
}

// The one function that reads a stats report, this browser's or the other side's.  `previous`
// is the `counters` of the report before (for rates); `now` (ms) stands in for a missing
// timestamp.  Every field may be missing: a missing value gives no point on the graph.
function summarizeStats(report, previous, now) {
  const list = statsList(report);
  const byId = new Map();
  for (const s of list) if (typeof s.id === 'string') byId.set(s.id, s);
  const counters = new Map();

  // Per second, from the same stats object's value in the previous report.
  const rate = (s, field) => {
    const value = s[field];
    if (typeof s.id !== 'string' || !Number.isFinite(value)) return null;
    const time = Number.isFinite(s.timestamp) ? s.timestamp : now;
    const entry = counters.get(s.id) ?? {time};
    entry[field] = value;
    counters.set(s.id, entry);
    const before = previous?.get(s.id);
    if (!before || !Number.isFinite(before[field]) || !(time > before.time)) return null;
    const delta = value - before[field];
    return delta >= 0 ? delta / ((time - before.time) / 1000) : null;
  };
  const kbps = (bytesPerSecond) => (bytesPerSecond === null ? null : bytesPerSecond * 8 / 1000);
  // Series values summed (or maxed) over the stats objects of one kind.
  const sum = (series, key, value) => {
    if (value !== null && Number.isFinite(value) && key in series) {
      series[key] = (series[key] ?? 0) + value;
    }
  };
  const max = (series, key, value) => {
    if (Number.isFinite(value) && key in series) series[key] = Math.max(series[key] ?? 0, value);
  };

  const values = {
    'send-bitrate': {video: null, audio: null},
    'recv-bitrate': {video: null, audio: null},
    'rtt': {rtt: null},
    'packets-lost': {video: null, audio: null},
    'jitter': {video: null, audio: null},
    'frames': {decoded: null, dropped: null},
  };
  const codecs = {send: new Set(), receive: new Set()};
  const codecName = (id) => byId.get(id)?.mimeType;
  const remoteRtts = [];
  let framesDecoded = 0;
  let receivedVideo = null;

  for (const s of list) {
    const kind = s.kind ?? s.mediaType;
    if (s.type === 'outbound-rtp') {
      sum(values['send-bitrate'], kind, kbps(rate(s, 'bytesSent')));
      if (codecName(s.codecId)) codecs.send.add(codecName(s.codecId));
    } else if (s.type === 'inbound-rtp') {
      sum(values['recv-bitrate'], kind, kbps(rate(s, 'bytesReceived')));
      sum(values['packets-lost'], kind, Number.isFinite(s.packetsLost) ? s.packetsLost : null);
      max(values.jitter, kind, Number.isFinite(s.jitter) ? s.jitter * 1000 : null);
      if (codecName(s.codecId)) codecs.receive.add(codecName(s.codecId));
      if (kind === 'video') {
        const decoded = rate(s, 'framesDecoded');
        sum(values.frames, 'decoded', decoded);
        sum(values.frames, 'dropped', rate(s, 'framesDropped'));
        if (Number.isFinite(s.framesDecoded)) framesDecoded += s.framesDecoded;
        if (Number.isFinite(s.frameWidth) && Number.isFinite(s.frameHeight)) {
          receivedVideo = {width: s.frameWidth, height: s.frameHeight,
                           fps: Number.isFinite(s.framesPerSecond) ? s.framesPerSecond : decoded};
        }
      }
    } else if (s.type === 'remote-inbound-rtp' && Number.isFinite(s.roundTripTime)) {
      remoteRtts.push(s.roundTripTime);
    }
  }

  // The selected candidate pair: the one the transport names, else one marked selected (a
  // Firefox field), else a nominated pair that works.
  const transport = list.find((s) => s.type === 'transport' && s.selectedCandidatePairId)
    ?? list.find((s) => s.type === 'transport');
  const pair = byId.get(transport?.selectedCandidatePairId)
    ?? list.find((s) => s.type === 'candidate-pair' && s.selected === true)
    ?? list.find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded');

  if (Number.isFinite(pair?.currentRoundTripTime)) {
    values.rtt.rtt = pair.currentRoundTripTime * 1000;
  } else if (remoteRtts.length) {
    values.rtt.rtt = remoteRtts.reduce((a, b) => a + b, 0) / remoteRtts.length * 1000;
  }

  const dash = '—';
  const joined = (...parts) => parts.filter((p) => p !== undefined && p !== null && p !== '')
    .join(' · ') || dash;
  const text = [
    ['Candidate pair', pair
      ? `${describeCandidate(byId.get(pair.localCandidateId))} → `
        + `${describeCandidate(byId.get(pair.remoteCandidateId))} · `
        + `sent ${formatBytes(pair.bytesSent)}, received ${formatBytes(pair.bytesReceived)}`
      : 'none selected yet'],
    ['DTLS', joined(transport?.dtlsState, formatTlsVersion(transport?.tlsVersion),
                    transport?.dtlsCipher, transport?.dtlsRole && `role ${transport.dtlsRole}`)],
    ['SRTP', transport?.srtpCipher ?? dash],
    ['Codecs', `send ${[...codecs.send].join(', ') || dash}; `
               + `receive ${[...codecs.receive].join(', ') || dash}`],
    ['Received video', receivedVideo
      ? `${receivedVideo.width}×${receivedVideo.height}`
        + (receivedVideo.fps === null ? '' : ` at ${receivedVideo.fps.toFixed(0)} fps`)
      : dash],
  ];
  return {values, counters, text, framesDecoded};
}

function describeCandidate(c) {
  if (!c) return '?';
  const address = c.address ?? c.ip ?? c.ipAddress ?? '?';
  const host = String(address).includes(':') ? `[${address}]` : address;
  const relay = c.relayProtocol ? ` (relay over ${c.relayProtocol})` : '';
  return `${c.candidateType ?? '?'} ${host}:${c.port ?? '?'} ${c.protocol ?? ''}${relay}`.trim();
}

function formatTlsVersion(version) {
  // Chromium reports the record's version bytes in hex.
  const names = {FEFF: 'DTLS 1.0', FEFD: 'DTLS 1.2', FEFC: 'DTLS 1.3'};
  return names[String(version).toUpperCase()] ?? version;
}

function formatBytes(n) {
  if (!Number.isFinite(n)) return '?';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function formatNumber(v) {
  if (!Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a >= 10000) return `${(v / 1000).toFixed(0)}k`;
  if (a >= 1000) return `${(v / 1000).toFixed(1)}k`;
  if (Number.isInteger(v) || a >= 10) return v.toFixed(0);
  return a >= 1 ? v.toFixed(1) : v.toFixed(2);
}

// 1, 2 or 5 times a power of ten, at least v: the top of the y axis.
function niceCeiling(v) {
  if (!(v > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * power).find((top) => top >= v) ?? v;
}

// One canvas: the last HISTORY samples of each series, newest on the right.
class Graph {
  constructor(container, spec) {
    this.spec = spec;
    const figure = document.createElement('figure');
    const caption = document.createElement('figcaption');
    caption.textContent = `${spec.title} · ${spec.unit}`;
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'graph';
    this.canvas.dataset.metric = spec.metric;
    figure.append(caption, this.canvas);
    container.append(figure);
    this.clear();
  }

  clear() {
    this.history = this.spec.series.map(() => []);
  }

  push(values) {
    this.spec.series.forEach(({key}, i) => {
      const v = values?.[key];
      this.history[i].push(Number.isFinite(v) ? v : null);
      if (this.history[i].length > HISTORY) this.history[i].shift();
    });
  }

  draw() {
    const canvas = this.canvas;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (!width || !height) return;
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * dpr)) canvas.width = Math.round(width * dpr);
    if (canvas.height !== Math.round(height * dpr)) canvas.height = Math.round(height * dpr);
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = '#0e1218';
    ctx.fillRect(0, 0, width, height);

    const left = 34;
    const right = width - 6;
    const top = 20;
    const bottom = height - 6;
    const yMax = niceCeiling(Math.max(0, ...this.history.flat().filter(Number.isFinite)));
    const yOf = (v) => bottom - (v / yMax) * (bottom - top);

    // Axes, a dashed line at the top value, and the y labels.
    ctx.lineWidth = 1;
    ctx.strokeStyle = '#445066';
    ctx.beginPath();
    ctx.moveTo(left + 0.5, top - 2);
    ctx.lineTo(left + 0.5, bottom + 0.5);
    ctx.lineTo(right, bottom + 0.5);
    ctx.stroke();
    ctx.setLineDash([3, 3]);
    ctx.strokeStyle = '#2a3342';
    ctx.beginPath();
    ctx.moveTo(left, top + 0.5);
    ctx.lineTo(right, top + 0.5);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = '#9aa5b4';
    ctx.font = '10px system-ui, sans-serif';
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    ctx.fillText(formatNumber(yMax), left - 4, top);
    ctx.fillText('0', left - 4, bottom);

    // The lines, then a dot on each newest point (a lone sample is a point, not a line).
    const step = (right - left) / (HISTORY - 1);
    ctx.lineWidth = 2;
    ctx.lineJoin = 'round';
    this.spec.series.forEach(({color}, i) => {
      const samples = this.history[i];
      const xOf = (j) => right - (samples.length - 1 - j) * step;
      ctx.strokeStyle = color;
      ctx.beginPath();
      let penDown = false;
      samples.forEach((v, j) => {
        if (v === null) {
          penDown = false;
        } else if (penDown) {
          ctx.lineTo(xOf(j), yOf(v));
        } else {
          ctx.moveTo(xOf(j), yOf(v));
          penDown = true;
        }
      });
      ctx.stroke();
      const last = samples.length - 1;
      if (last >= 0 && samples[last] !== null) {
        ctx.fillStyle = color;
        ctx.beginPath();
        ctx.arc(xOf(last), yOf(samples[last]), 2.5, 0, 2 * Math.PI);
        ctx.fill();
      }
    });

    // The legend with each series' latest value.
    ctx.textAlign = 'left';
    ctx.font = '11px system-ui, sans-serif';
    let x = 6;
    this.spec.series.forEach(({key, color}, i) => {
      const latest = this.history[i].at(-1);
      const label = this.spec.series.length > 1 ? `${key} ${formatNumber(latest)}`
        : formatNumber(latest);
      ctx.fillStyle = color;
      ctx.fillRect(x, 5, 8, 8);
      ctx.fillText(label, x + 12, 9.5);
      x += 12 + ctx.measureText(label).width + 14;
    });
  }
}

// One side's stats: its graphs and text, fed one report a second.
class StatsPanel {
  constructor(root) {
    this.text = root.querySelector('.stats-text');
    const container = root.querySelector('.graphs');
    this.graphs = METRICS.map((spec) => new Graph(container, spec));
    this.reset();
  }

  reset() {
    this.previous = null;
    this.samples = 0;
    for (const graph of this.graphs) graph.clear();
    this.text.replaceChildren();
    this.draw();
  }

  add(report, now) {
    const summary = summarizeStats(report, this.previous, now);
    this.previous = summary.counters;
    this.samples += 1;
    for (const graph of this.graphs) graph.push(summary.values[graph.spec.metric]);
    this.draw();
    this.text.replaceChildren(...summary.text.flatMap(([term, value]) => {
      const dt = document.createElement('dt');
      dt.textContent = term;
      const dd = document.createElement('dd');
      dd.textContent = value;
      return [dt, dd];
    }));
    return summary;
  }

  draw() {
    for (const graph of this.graphs) graph.draw();
  }
}

// Once a second during a call: graph our own getStats() and send it to the other side.
async function collectStats() {
  const call = app.call;
  if (!call || call.collecting) return;
  call.collecting = true;
  try {
    const report = await call.pc.getStats();
    if (app.call !== call) return;
    app.framesDecoded = panels.local.add(report, Date.now()).framesDecoded;
    sendStats(call, report);
  } catch (err) {
    callError(call, 'getStats', err);
  } finally {
    call.collecting = false;
  }
}

function sendStats(call, report) {
  const channel = call.stats;
  if (channel.readyState !== 'open' || channel.bufferedAmount > STATS_BUFFER_LIMIT) return;
  const message = (stats) => JSON.stringify({stats, from: displayName() || 'browser',
                                            sent: Date.now()});
  let text = message(statsList(report));
  // One message must fit the peer's SDP max-message-size (RFC 8841 §6); if the whole report
  // does not, send the part the graphs read.
  const limit = call.pc.sctp?.maxMessageSize;
  if (limit && text.length > limit) {
    text = message(statsList(report).filter((s) => SUMMARIZED_TYPES.has(s.type)));
    if (text.length > limit) return;
  }
  channel.send(text);
}

function receiveStats(call, raw) {
  if (app.call !== call || typeof raw !== 'string') return;
  let message;
  try {
    message = JSON.parse(raw);
  } catch {
    return;
  }
  if (!Array.isArray(message?.stats)) return;
  panels.remote.add(message.stats, Number.isFinite(message.sent) ? message.sent : Date.now());
  if (typeof message.from === 'string') {
    $('stats-remote-from').textContent = `${message.from}’s getStats(), via the stats channel`;
  }
}

// --- for tests and the curious -----------------------------------------------------------------

function state() {
  const pc = app.call?.pc ?? app.lastPc;
  const audio = app.localStream?.getAudioTracks()[0];
  const video = app.localStream?.getVideoTracks()[0];
  return {
    signaling: app.signaling,
    room: app.room,
    id: app.id,
    peerId: app.call?.peer.id ?? null,
    peerName: app.call?.peer.name ?? null,
    polite: app.call ? app.call.polite : null,
    connectionState: pc?.connectionState ?? null,
    iceConnectionState: pc?.iceConnectionState ?? null,
    signalingState: pc?.signalingState ?? null,
    localStatsSamples: panels.local.samples,
    remoteStatsSamples: panels.remote.samples,
    chat: app.chat.map(({from, name, text}) => ({from, name, text})),
    framesDecoded: app.framesDecoded,
    lastError: app.lastError,
    media: app.media,
    micEnabled: audio ? audio.enabled : null,
    cameraEnabled: video ? video.enabled : null,
  };
}

window.demo = Object.freeze({
  state,
  callEcho,
  join,
  hangUp: () => hangUp(),
  sendChat,
  toggleMute,
  toggleCamera,
});

// --- start -------------------------------------------------------------------------------------

function init() {
  panels = {local: new StatsPanel($('stats-local')), remote: new StatsPanel($('stats-remote'))};

  const params = new URLSearchParams(location.search);
  $('room').value = params.get('room') ?? '';
  $('name').value = params.get('name')
    ?? `guest-${Math.floor(Math.random() * 0x10000).toString(16).padStart(4, '0')}`;

  $('call-echo').addEventListener('click', () => callEcho());
  $('room-form').addEventListener('submit', (event) => {
    event.preventDefault();
    join();
  });
  $('hangup').addEventListener('click', () => hangUp());
  $('mute').addEventListener('click', () => toggleMute());
  $('camera').addEventListener('click', () => toggleCamera());
  $('chat-form').addEventListener('submit', (event) => {
    event.preventDefault();
    if (sendChat($('chat-input').value)) $('chat-input').value = '';
  });
  $('ice-form').addEventListener('submit', (event) => event.preventDefault());
  $('name').addEventListener('input', () => renderPeers());
  window.addEventListener('resize', () => {
    panels.local.draw();
    panels.remote.draw();
  });

  setStatus('Connecting to the signaling server…');
  connectSignaling();
  app.configLoaded = loadConfig();
  app.mediaReady = startLocalMedia();
  setInterval(collectStats, 1000);
  refresh();
}

init();
