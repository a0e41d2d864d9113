// The transport handshake: both sides send a hello at once, the peer's hello is checked
// (internal/hello.ts), SASL runs where configured, then both send ready. The handshake completes
// when a side has sent and received ready. See codec/TRANSPORT-PROTOCOL.md, "Handshake".
import { FrameKind, HandshakeStep } from '@tributary/codec';
import {
  type AuthProvider,
  type Connection,
  type CredentialSource,
  ErrAuthFailed,
  isTributaryError,
  type SaslServerStep,
  type TributaryError,
} from '@tributary/core';
import { ErrTransportHandshakeFailed, ErrTransportProtocol } from './errors.js';
import { errorPayload, toBytes } from './internal/error-payload.js';
import { type PeerHello, parsePeerHello } from './internal/hello.js';
import type { TransportSettings } from './transport-settings.js';

/** The dialing side proves who it is. */
export interface TransportClientAuth {
  role: 'client';
  provider: AuthProvider;
  username: string;
  password: string;
  /** Default: the first of the provider's mechanisms the peer offers. */
  mechanism?: string;
}
/** The accepting side checks credentials; the peer must authenticate. */
export interface TransportServerAuth {
  role: 'server';
  provider: AuthProvider;
  credentials: CredentialSource;
}
export type TransportAuth = TransportClientAuth | TransportServerAuth;

export interface HandshakeHost {
  readonly name: string;
  readonly connection: Connection;
  readonly settings: Readonly<TransportSettings>;
  /** True while the handshake runs (not before it started, not once ready or closed). */
  handshaking(): boolean;
  isClosed(): boolean;
  /** Writes a frame and flushes it. */
  writeNow(kind: FrameKind, messageId: number, payload: Uint8Array): void;
  /** Ends the transport; `graceful` lets the error frame written just before reach the peer. */
  fail(err: TributaryError, graceful: boolean): void;
  /** The peer's hello passed its checks (called before any auth step). */
  peerHello(hello: PeerHello): void;
  /** Both sides sent ready. */
  ready(): void;
}

const EMPTY = Buffer.alloc(0);

export class Handshake {
  /** The peer's hello, once received and checked. */
  peer: PeerHello | undefined;
  /** The user the peer authenticated as (server side with auth). */
  peerUser: string | undefined;
  /** The peer sent ready. */
  peerReady = false;
  readonly #h: HandshakeHost;
  readonly #auth: TransportAuth | undefined;
  /** The version as configured: the hello carries its JSON type too. */
  readonly #version: number | string;
  #localReady = false;
  #saslClient: ReturnType<AuthProvider['createClient']> | undefined;
  #saslServer: ReturnType<AuthProvider['createServer']> | undefined;

  constructor(host: HandshakeHost, version: number | string, auth: TransportAuth | undefined) {
    this.#h = host;
    this.#version = version;
    this.#auth = auth;
  }

  /** Sends this side's hello. */
  sendHello(): void {
    const s = this.#h.settings;
    const hello: PeerHello = {
      name: this.#h.name,
      version: this.#version,
      settings: {
        opaqueStart: s.opaqueStart,
        opaqueEnd: s.opaqueEnd,
        maxStreams: s.maxStreams,
        maxFrameBytes: s.maxFrameBytes,
        heartbeatMs: s.heartbeatMs,
        deadAfterHeartbeats: s.deadAfterHeartbeats,
        compression: s.compression,
      },
    };
    if (this.#auth?.role === 'server')
      hello.auth = { server: { mechanisms: [...this.#auth.provider.mechanisms] } };
    else if (this.#auth?.role === 'client') hello.auth = { client: true };
    this.#h.writeNow(FrameKind.Handshake, HandshakeStep.Hello, toBytes(JSON.stringify(hello)));
  }

  /** Tells the peer why before closing, so it fails with the same code instead of "connection lost". */
  failWith(err: TributaryError): void {
    if (!this.#h.isClosed()) this.#h.writeNow(FrameKind.Error, 0, errorPayload(err));
    this.#h.fail(err, true);
  }

  /** A handshake frame from the peer. Throws TRIB_TRANSPORT_PROTOCOL outside the handshake. */
  onFrame(step: number, payload: Buffer): void {
    if (!this.#h.handshaking())
      throw ErrTransportProtocol(`handshake frame (step ${step}) outside the handshake`);
    try {
      switch (step) {
        case HandshakeStep.Hello:
          this.#onHello(payload);
          return;
        case HandshakeStep.AuthStart:
        case HandshakeStep.AuthResponse:
          this.#onAuthFromClient(step, payload);
          return;
        case HandshakeStep.AuthChallenge:
        case HandshakeStep.AuthDone:
          this.#onAuthFromServer(step, payload);
          return;
        case HandshakeStep.Ready:
          if (!this.peer) throw ErrTransportProtocol('ready before hello');
          this.peerReady = true;
          this.#maybeReady();
          return;
        default:
          throw ErrTransportProtocol(`unknown handshake step ${step}`);
      }
    } catch (err) {
      this.failWith(
        isTributaryError(err)
          ? err
          : ErrTransportHandshakeFailed(String((err as Error)?.message ?? err), { cause: err }),
      );
    }
  }

  #send(step: number, payload: Uint8Array): void {
    this.#h.writeNow(FrameKind.Handshake, step, payload);
  }

  #onHello(payload: Buffer): void {
    if (this.peer) throw ErrTransportProtocol('second hello');
    const hello = parsePeerHello(payload, {
      version: this.#version,
      compression: this.#h.settings.compression,
    });
    this.peer = hello;
    this.#h.peerHello(hello);
    const peerAuth = hello.auth;
    const secure = this.#h.connection.secure;
    if (this.#auth?.role === 'server') {
      if (!peerAuth?.client)
        throw ErrAuthFailed('the peer did not offer credentials and this side requires them');
      this.#saslServer = this.#auth.provider.createServer({ credentials: this.#auth.credentials, secure });
      return; // wait for AuthStart
    }
    if (this.#auth?.role === 'client') {
      const offered = peerAuth?.server?.mechanisms;
      if (!offered) throw ErrAuthFailed('the peer does not authenticate, but this side was configured to');
      const mech = this.#auth.mechanism ?? this.#auth.provider.mechanisms.find((m) => offered.includes(m));
      if (!mech) throw ErrAuthFailed(`no common mechanism (peer offers ${offered.join(' ')})`);
      this.#saslClient = this.#auth.provider.createClient({
        mechanism: mech,
        username: this.#auth.username,
        password: this.#auth.password,
        secure,
      });
      const mechBytes = toBytes(mech);
      const initial = this.#saslClient.start();
      const p = Buffer.allocUnsafe(1 + mechBytes.length + initial.length);
      p[0] = mechBytes.length;
      mechBytes.copy(p, 1);
      p.set(initial, 1 + mechBytes.length);
      this.#send(HandshakeStep.AuthStart, p);
      return;
    }
    if (peerAuth?.server)
      throw ErrAuthFailed('the peer requires authentication and this side has no credentials');
    this.#sendReady();
  }

  #onAuthFromClient(step: number, payload: Buffer): void {
    const server = this.#saslServer;
    if (!server) throw ErrTransportProtocol('auth message to a side that does not authenticate');
    let p: Promise<SaslServerStep>;
    if (step === HandshakeStep.AuthStart) {
      const n = payload[0] ?? 0;
      if (payload.length < 1 + n) throw ErrTransportProtocol('short auth start');
      p = server.begin(payload.toString('utf8', 1, 1 + n), payload.subarray(1 + n));
    } else {
      p = server.step(payload);
    }
    p.then(
      (res) => {
        if (!this.#h.handshaking()) return;
        if (!res.done) {
          this.#send(HandshakeStep.AuthChallenge, res.challenge);
          return;
        }
        this.peerUser = res.username;
        this.#send(HandshakeStep.AuthDone, res.final ?? EMPTY);
        this.#sendReady();
      },
      (err) => {
        this.failWith(
          isTributaryError(err) ? err : ErrAuthFailed(String((err as Error)?.message ?? err), { cause: err }),
        );
      },
    );
  }

  #onAuthFromServer(step: number, payload: Buffer): void {
    const client = this.#saslClient;
    if (!client) throw ErrTransportProtocol('auth challenge to a side that did not authenticate');
    if (step === HandshakeStep.AuthChallenge) {
      this.#send(HandshakeStep.AuthResponse, client.step(payload));
      return;
    }
    client.finish(payload);
    this.#sendReady();
  }

  #sendReady(): void {
    this.#localReady = true;
    this.#send(HandshakeStep.Ready, EMPTY);
    this.#maybeReady();
  }

  #maybeReady(): void {
    if (!this.#localReady || !this.peerReady || !this.#h.handshaking()) return;
    this.#h.ready();
  }
}
