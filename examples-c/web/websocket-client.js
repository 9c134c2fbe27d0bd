/**
 * websocket-client.js: a browser WebSocket that reconnects by itself.
 *
 * No dependencies. Load it with `<script src="websocket-client.js"></script>`
 * (it defines the globals `WebSocketClient`, `CloseCode`, `closeCodeName` and
 * `backoffDelay`), or `require()` it under Node.js, giving a WebSocket class as
 * the `WebSocket` option when Node has none. README.md in this directory shows
 * it in use.
 *
 * What it adds to the browser's WebSocket:
 * - reconnection with jittered exponential backoff (`minDelay`, `maxDelay`,
 *   `factor`, `jitter`, `maxRetries`), unless the application closed it or the
 *   server closed with a code that retrying cannot fix (`shouldReconnect`);
 * - a bounded queue of what is sent while disconnected (`queueLimit`),
 *   sent in order as soon as the next connection opens;
 * - JSON: `sendJSON(value)`, and a "json" event with each message parsed;
 * - close codes by name (`CloseCode`), as the C library names them;
 * - events: open, message, json, close, reconnecting, reconnected, giveup, error.
 *
 * Delivery is at most once: a message handed to a socket that then drops is
 * lost (the browser does not say which ones reached the server). Applications
 * that need more number their messages and have the server acknowledge them.
 */
(function (root, factory) {
  const api = factory();
  if (typeof module === "object" && module.exports) module.exports = api;
  else Object.assign(root, api);
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  /**
   * Close codes (RFC 6455 section 7.4.1) with the names of the C library's
   * `WS_*` constants (`WS_OK` is `CloseCode.OK`); `NORMAL` is another name for
   * 1000. Applications use 3000-4999 for their own.
   * @readonly
   * @enum {number}
   */
  const CloseCode = Object.freeze({
    OK: 1000,
    NORMAL: 1000,
    GONE: 1001,
    PROTOCOL_ERROR: 1002,
    NOT_ACCEPTABLE: 1003,
    NO_STATUS: 1005,
    CLOSED_ABNORMALLY: 1006,
    BAD_MESSAGE: 1007,
    FORBIDDEN: 1008,
    MESSAGE_TOO_LARGE: 1009,
    EXTENSIONS_NOT_AVAILABLE: 1010,
    INTERNAL_SERVER_ERROR: 1011,
    TLS_HANDSHAKE_FAIL: 1015,
  });

  /**
   * The name of a close code: "OK", "GONE", ... "APPLICATION" for 3000-4999,
   * "UNKNOWN" for the rest.
   * @param {number} code
   * @returns {string}
   */
  function closeCodeName(code) {
    for (const name of Object.keys(CloseCode)) {
      if (CloseCode[name] === code && name !== "NORMAL") return name;
    }
    return code >= 3000 && code <= 4999 ? "APPLICATION" : "UNKNOWN";
  }

  /**
   * How long to wait before reconnection attempt number `attempt` (1, 2, ...):
   * `minDelay * factor^(attempt-1)`, at most `maxDelay`, less a random part of
   * up to `jitter` of it, so that clients dropped together do not all come
   * back at the same moment.
   * @param {number} attempt 1 for the first attempt after a drop
   * @param {{minDelay: number, maxDelay: number, factor: number, jitter: number}} options
   * @param {() => number} [random] a number in [0, 1), as Math.random
   * @returns {number} milliseconds
   */
  function backoffDelay(attempt, options, random = Math.random) {
    const base = Math.min(options.maxDelay, options.minDelay * Math.pow(options.factor, attempt - 1));
    return Math.round(base * (1 - options.jitter * random()));
  }

  /** Close codes after which trying again would fail the same way. */
  const FINAL_CODES = [CloseCode.NOT_ACCEPTABLE, CloseCode.FORBIDDEN];

  const DEFAULTS = {
    protocols: undefined,
    minDelay: 500,
    maxDelay: 10000,
    factor: 2,
    jitter: 0.5,
    maxRetries: Infinity,
    queueLimit: 100,
    openTimeout: 10000,
    shouldReconnect: (event) => !FINAL_CODES.includes(event.code),
    WebSocket: undefined,
  };

  const EVENTS = ["open", "message", "json", "close", "reconnecting", "reconnected", "giveup", "error"];

  /**
   * A WebSocket connection that reconnects when it drops.
   *
   * Events (listen with `on(name, fn)`, or set the property `on<name>`):
   * - "open" `()`: a connection opened (the first one and every reconnection),
   *   after what was queued meanwhile was sent;
   * - "message" `(data, event)`: a message arrived (`event` is the MessageEvent);
   * - "json" `(value, event)`: a text message arrived that parses as JSON;
   * - "close" `({code, name, reason, wasClean, willReconnect})`: the
   *   connection closed; `name` is `closeCodeName(code)`;
   * - "reconnecting" `({attempt, delay})`: attempt number `attempt` starts in
   *   `delay` ms;
   * - "reconnected" `({attempts})`: a reconnection opened, after `attempts` tries;
   * - "giveup" `({attempts})`: `maxRetries` attempts failed: it stays closed;
   * - "error" `(event)`: the WebSocket's error event (a close follows).
   */
  class WebSocketClient {
    /**
     * Connects at once.
     * @param {string} url ws:// or wss://
     * @param {object} [options]
     * @param {string|string[]} [options.protocols] subprotocols to offer
     * @param {number} [options.minDelay=500] ms before the first reconnection attempt
     * @param {number} [options.maxDelay=10000] the longest wait between attempts, in ms
     * @param {number} [options.factor=2] each wait is this many times the one before
     * @param {number} [options.jitter=0.5] up to this part of each wait is taken off at random (0 to 1)
     * @param {number} [options.maxRetries=Infinity] attempts in a row before giving up
     * @param {number} [options.queueLimit=100] messages kept while disconnected; `send` refuses more
     * @param {number} [options.openTimeout=10000] ms a connection may take to open before it is dropped and retried
     * @param {(close: {code: number, reason: string}) => boolean} [options.shouldReconnect]
     *   whether to reconnect after the server closed or the connection dropped;
     *   by default yes, unless the code was NOT_ACCEPTABLE or FORBIDDEN
     * @param {typeof WebSocket} [options.WebSocket] the WebSocket class (default: the global one)
     */
    constructor(url, options = {}) {
      /** @type {string} */
      this.url = url;
      this.options = Object.assign({}, DEFAULTS, options);
      /**
       * "connecting", "open", "reconnecting" (waiting to try again) or "closed" (for good).
       * @type {string}
       */
      this.state = "connecting";
      this._listeners = new Map(EVENTS.map((name) => [name, new Set()]));
      this._queue = [];
      this._attempt = 0; // failed attempts since the last open
      this._everOpened = false;
      this._timer = null;
      this._socket = null;
      this._connect();
    }

    /** Messages waiting for the next connection. @type {number} */
    get queued() {
      return this._queue.length;
    }

    /**
     * Adds a listener; returns a function that removes it.
     * @param {string} name one of the events above
     * @param {Function} listener
     * @returns {() => void}
     */
    on(name, listener) {
      this._listenersOf(name).add(listener);
      return () => this.off(name, listener);
    }

    /** Removes a listener added with `on`. */
    off(name, listener) {
      this._listenersOf(name).delete(listener);
    }

    /**
     * Sends `data` now when connected, else queues it for the next connection.
     * @param {string|ArrayBuffer|Blob|ArrayBufferView} data
     * @returns {boolean} false when it was dropped: closed for good, or the queue is full
     */
    send(data) {
      if (this.state === "open") {
        this._socket.send(data);
        return true;
      }
      if (this.state === "closed" || this._queue.length >= this.options.queueLimit) return false;
      this._queue.push(data);
      return true;
    }

    /**
     * Sends `JSON.stringify(value)` as a text message (see `send`).
     * @param {*} value
     * @returns {boolean}
     */
    sendJSON(value) {
      return this.send(JSON.stringify(value));
    }

    /**
     * Closes for good: no more reconnection; what is queued is dropped.
     * @param {number} [code=CloseCode.OK]
     * @param {string} [reason]
     */
    close(code = CloseCode.OK, reason = "") {
      this.state = "closed";
      this._queue = [];
      clearTimeout(this._timer);
      if (this._socket) this._socket.close(code, reason);
    }

    _listenersOf(name) {
      const set = this._listeners.get(name);
      if (!set) throw new Error(`unknown event "${name}" (one of ${EVENTS.join(", ")})`);
      return set;
    }

    /** Calls the `on<name>` property and the listeners; one that throws does not stop the others. */
    _emit(name, ...args) {
      const handlers = [this["on" + name], ...this._listenersOf(name)];
      for (const handler of handlers) {
        if (typeof handler !== "function") continue;
        try {
          handler.apply(this, args);
        } catch (error) {
          setTimeout(() => {
            throw error; // reported as uncaught, without breaking this client
          });
        }
      }
    }

    _connect() {
      const Impl = this.options.WebSocket || globalThis.WebSocket;
      let socket;
      try {
        socket = new Impl(this.url, this.options.protocols);
      } catch (error) {
        // A malformed URL: no retry can help.
        this.state = "closed";
        throw error;
      }
      this._socket = socket;
      this._timer = setTimeout(() => socket.close(), this.options.openTimeout);
      socket.onopen = () => this._opened(socket);
      socket.onmessage = (event) => this._message(socket, event);
      socket.onerror = (event) => socket === this._socket && this._emit("error", event);
      socket.onclose = (event) => this._closed(socket, event);
    }

    _opened(socket) {
      if (socket !== this._socket) return;
      clearTimeout(this._timer);
      this.state = "open";
      const attempts = this._attempt;
      this._attempt = 0;
      const queue = this._queue;
      this._queue = [];
      for (const data of queue) socket.send(data);
      this._emit("open");
      if (this._everOpened) this._emit("reconnected", { attempts });
      this._everOpened = true;
    }

    _message(socket, event) {
      if (socket !== this._socket) return;
      this._emit("message", event.data, event);
      const wantsJSON = this.onjson || this._listenersOf("json").size > 0;
      if (typeof event.data !== "string" || !wantsJSON) return;
      let value;
      try {
        value = JSON.parse(event.data);
      } catch {
        return; // not JSON: "message" had it
      }
      this._emit("json", value, event);
    }

    _closed(socket, event) {
      if (socket !== this._socket) return;
      clearTimeout(this._timer);
      this._socket = null;
      const close = { code: event.code, reason: event.reason, wasClean: event.wasClean };
      const retry = this.state !== "closed" && this.options.shouldReconnect(close);
      if (!retry) this.state = "closed";
      this._emit("close", Object.assign(close, { name: closeCodeName(event.code), willReconnect: retry }));
      if (retry) this._scheduleReconnect();
    }

    _scheduleReconnect() {
      if (this.state === "closed") return; // a close listener closed it
      if (this._attempt >= this.options.maxRetries) {
        this.state = "closed";
        this._queue = [];
        this._emit("giveup", { attempts: this._attempt });
        return;
      }
      this._attempt++;
      this.state = "reconnecting";
      const delay = backoffDelay(this._attempt, this.options);
      this._emit("reconnecting", { attempt: this._attempt, delay });
      this._timer = setTimeout(() => {
        if (this.state !== "reconnecting") return;
        this.state = "connecting";
        this._connect();
      }, delay);
    }
  }

  return { WebSocketClient, CloseCode, closeCodeName, backoffDelay };
});
