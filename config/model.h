// config/model.h — the configuration as plain typed structs.
//
// One place describes what a user can write. The YAML loader (loader.h) and the quick mode
// (`lbd proxy`) both fill these structs; validation happens in the loader, so everything past
// it may rely on the invariants stated here. Defaults are the values a field has when the key
// is absent. docs/config.md documents every key; a test keeps the two in step.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/health.h"
#include "config/routes.h"
#include "config/units.h"

namespace fulcrum::config {

// Where in which file a value came from, so later stages (reload diffs, runtime checks such as
// "address already in use") can still point at the line.
// Marks are provenance, not value: two configs that say the same thing compare equal wherever
// they were written, so operator== is always true. Compare line/column explicitly when the
// position itself is what matters.
struct Mark {
  std::string file;
  int line = 0;    // 1-based; 0 when the value did not come from a file (quick mode, default)
  int column = 0;  // 1-based
  bool operator==(const Mark&) const { return true; }
};

// Position of each key's value within one item, so validate() can point at the exact value
// (`mode: tcp`) rather than at the start of the item. Empty in quick mode.
struct KeyMarks {
  std::map<std::string, Mark, std::less<>> by_key;
  // The value's mark when the key was written, else `fallback` (usually the item's mark).
  const Mark& at(std::string_view key, const Mark& fallback) const;
  bool operator==(const KeyMarks&) const { return true; }  // provenance, as for Mark
};

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError };
enum class Mode { kHttp, kTcp, kUdp };
enum class BalanceAlgorithm {
  kRoundRobin,
  kWeightedRoundRobin,
  kLeastConnections,
  kRandom,
  kP2cEwma,
  kSourceHash,
  kMaglev,    // consistent_hash, method maglev
  kRingHash,  // consistent_hash, method ring_hash (bounded loads)
  kFirst
};
// kNet servers are reached over the network; kDemo servers are served by lbd itself on
// loopback (see l7/demo_server.h), for the quickstart and for tests.
enum class ServerKind { kNet, kDemo };

struct ServerConfig {
  std::string name;  // unique within its backend; default "<backend>-<index+1>"
  ServerKind kind = ServerKind::kNet;
  Address address;           // required for kNet; for kDemo, default 127.0.0.1:0 (any port)
  std::uint32_t weight = 1;  // 1..256
  bool backup = false;       // used only while no primary server of the backend is usable
  std::uint32_t max_connections = 0;  // concurrent exchanges; 0 = unlimited
  Duration slow_start = Duration(0);  // weight ramps from ~0 to full over this after recovery
  enum class Admin { kEnabled, kDrain, kDisabled };
  Admin admin = Admin::kEnabled;  // initial admin state (drain: no new requests)
  Mark mark;
  KeyMarks key_marks;
  bool operator==(const ServerConfig&) const = default;
};

// Sticky sessions by cookie. insert: a response from a server that the request's cookie did
// not name carries Set-Cookie NAME=<server token>; a request whose cookie names a usable server
// goes to it, and falls back to the balancer (and a fresh cookie) when it is not usable.
// learn: the application sets the cookie (a session id); lbd remembers which server set each
// value, for `ttl` since last use, in a table of `table_size` entries, and sends later requests
// carrying that value to the same server while it is usable.
struct StickyConfig {
  enum class Mode { kInsert, kLearn };
  bool enabled = false;  // on when the backend has a sticky key
  Mode mode = Mode::kInsert;
  std::string cookie = "FULCRUM_SERVER";  // learn: required (the application's cookie)
  Duration ttl = std::chrono::hours(1);   // learn only
  std::uint32_t table_size = 65536;       // learn only: sessions remembered per backend
  bool operator==(const StickyConfig&) const = default;
};

// Requests that find every usable server at its max_connections wait here, in arrival order,
// for a slot; more than `size` waiting (across workers), or waiting longer than `timeout`, gets
// 503. size 0: no queue (503 at once).
struct QueueConfig {
  std::uint32_t size = 1024;
  Duration timeout = std::chrono::seconds(5);
  bool operator==(const QueueConfig&) const = default;
};

// PROXY protocol header lbd sends to a backend's servers at the start of each tcp-mode
// connection, so they see the real client address (none: send nothing).
enum class ProxyProtocol { kNone, kV1, kV2 };
// What an HTTP backend's servers speak: HTTP/1.1, or HTTP/2 in cleartext (h2c, prior knowledge).
enum class UpstreamProtocol { kHttp1, kH2 };

// TLS from lbd to a backend's servers (HTTP backends only). Off unless the backend has a `tls`
// key. Relative file names are relative to the config file, as for listeners.
struct UpstreamTlsConfig {
  bool enabled = false;
  std::string ca;      // PEM bundle servers must chain to; empty: the system's trust store
  bool verify = true;  // the chain and the name (sni, else the server's address)
  // SNI and the name verified; empty: the server's address when it is a DNS name, none for IPs.
  std::string sni;
  std::string cert;  // client certificate chain (mTLS to the servers), with `key`
  std::string key;
  std::vector<std::string> protocols = {"tls1.2", "tls1.3"};
  std::string ciphers = "ECDHE+AESGCM:ECDHE+CHACHA20";  // TLS 1.2, as for listeners
  std::string ciphersuites =
      "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
  // Resume TLS sessions: one session kept per server per worker (a new connection to a server
  // skips the full handshake, as nginx's proxy_ssl_session_reuse).
  bool session_reuse = true;
  Mark mark;
  KeyMarks key_marks;
  bool operator==(const UpstreamTlsConfig&) const = default;
};

struct BackendConfig {
  std::string name;  // unique, required
  BalanceAlgorithm balance = BalanceAlgorithm::kRoundRobin;
  std::vector<ServerConfig> servers;  // at least one
  Duration connect_timeout = std::chrono::seconds(5);
  Duration response_timeout = std::chrono::seconds(60);  // request sent -> first response byte
  Duration idle_timeout = std::chrono::seconds(60);      // pooled upstream connection lifetime
  std::uint32_t max_idle = 128;       // idle pooled connections per worker per server; 0 = no reuse
  HashKey hash_key;                   // source_hash / maglev / ring_hash
  double hash_balance_factor = 1.25;  // ring_hash bounded loads: capacity = factor x average
  HealthCheckConfig health_check;
  OutlierConfig outlier;
  StickyConfig sticky;
  QueueConfig queue;
  // mode: tcp listeners only (l4/).
  ProxyProtocol send_proxy_protocol = ProxyProtocol::kNone;
  // Other servers tried when a connect is refused or times out (tcp mode), after the first.
  std::uint32_t retries = 2;
  // HTTP/2 clients' streams are multiplexed over pooled h2c connections (needed for gRPC:
  // trailers, long streams); HTTP/1.1 clients cannot use an h2 backend.
  UpstreamProtocol protocol = UpstreamProtocol::kHttp1;
  UpstreamTlsConfig tls;  // HTTP backends only
  Mark mark;
  KeyMarks key_marks;
  bool operator==(const BackendConfig&) const = default;
};

// HTTP/2 on an HTTP listener (l7/http2/). h2 over TLS is chosen by ALPN; cleartext h2c only
// with prior knowledge (the client starts with the connection preface) and only when `h2c`.
struct Http2Config {
  bool h2c = false;
  std::uint32_t max_concurrent_streams = 100;  // SETTINGS_MAX_CONCURRENT_STREAMS
  Size max_header_list_size = 64 * 1024;       // decoded request headers; over it: GOAWAY
  Size initial_window_size = 64 * 1024;        // per stream: request body bytes buffered at most
  Size max_frame_size = 16 * 1024;             // SETTINGS_MAX_FRAME_SIZE (16 KiB..16 MiB-1)
  bool operator==(const Http2Config&) const = default;
};

struct AccessLogConfig {
  enum class Format { kCombined, kJson };
  bool enabled = false;  // off unless the listener has an access_log key
  Format format = Format::kCombined;
  std::string path = "stdout";  // "stdout", "stderr" or a file path (appended to)
  bool operator==(const AccessLogConfig&) const = default;
};

// mode: tcp: TLS connections whose ClientHello names one of `sni` go to `backend`. A name is
// exact ("api.example.com") or a wildcard ("*.example.com": any name ending in
// ".example.com"); matching ignores case; exact names win, then the longest wildcard.
struct SniRouteConfig {
  std::vector<std::string> sni;
  std::string backend;
  Mark mark;
  KeyMarks key_marks;
  bool operator==(const SniRouteConfig&) const = default;
};

// One certificate of a TLS listener: a PEM chain (leaf first) and its private key. Several
// may share names (an ECDSA and an RSA one): the client's signature algorithms pick.
struct TlsCertConfig {
  std::string cert;           // required; relative paths are relative to the config file
  std::string key;            // required
  std::string ocsp_response;  // DER OCSP response stapled to handshakes; re-read on reload
  Mark mark;
  KeyMarks key_marks;
  bool operator==(const TlsCertConfig&) const = default;
};

// TLS termination on an http listener (tls/). Off unless the listener has a `tls` key.
struct TlsConfig {
  enum class Verify { kNone, kOptional, kRequired };
  bool enabled = false;
  // Chosen by SNI: an exact name of a certificate, then its longest wildcard, else the first.
  std::vector<TlsCertConfig> certificates;
  std::vector<std::string> protocols = {"tls1.2", "tls1.3"};  // tls1.0 and tls1.1 warn
  // TLS 1.2 suites (OpenSSL cipher list): forward-secret AEAD only by default.
  std::string ciphers = "ECDHE+AESGCM:ECDHE+CHACHA20";
  std::string ciphersuites =  // TLS 1.3
      "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
  std::vector<std::string> curves = {"X25519", "P-256", "P-384"};
  bool session_tickets = true;
  // Ticket keys are shared by the workers; a new one every `ticket_rotation`, and the one
  // before still decrypts (so a ticket lives up to twice this long).
  Duration ticket_rotation = std::chrono::hours(12);
  std::uint32_t session_cache = 20480;  // server-side sessions kept; 0 = no cache
  Duration handshake_timeout = std::chrono::seconds(10);
  std::string client_ca;  // PEM bundle that client certificates must chain to
  Verify verify_client = Verify::kNone;
  // Request header carrying the verified client certificate's subject upstream (empty: none).
  // Whatever the client sent under this name is dropped first.
  std::string client_subject_header;
  // ALPN protocols offered, in preference order. "h2" hands the connection to the HTTP/2
  // engine (l7/http2/).
  std::vector<std::string> alpn = {"h2", "http/1.1"};
  Mark mark;
  KeyMarks key_marks;
  bool operator==(const TlsConfig&) const = default;
};

// Strict-Transport-Security on every response of a TLS listener.
struct HstsConfig {
  bool enabled = false;
  Duration max_age = std::chrono::hours(24 * 365);
  bool include_subdomains = false;
  bool preload = false;
  Mark mark;
  bool operator==(const HstsConfig&) const = default;
};

struct ListenerConfig {
  std::string name;  // unique; default "<address>"
  Address address;   // required
  Mode mode = Mode::kHttp;
  // The backend for requests no route takes; required unless routes exist (then a request no
  // route takes gets 404).
  std::string backend;
  std::vector<RouteConfig> routes;                     // ordered; the first match wins
  Duration header_timeout = std::chrono::seconds(10);  // first byte -> complete request head
  // http: keep-alive wait between requests. tcp: a session with no byte either way for this
  // long is closed; 1h when not given (as Envoy's tcp_proxy), set by the loader and quick mode.
  Duration idle_timeout = std::chrono::seconds(60);
  // Whole request head; 431 beyond. 16 KiB (HAProxy's buffer size) fits one pooled buffer.
  Size max_header_size = 16 * 1024;
  Size max_body = 0;  // request body; 413 beyond; 0 = unlimited
  // Whole exchange, request head to last response byte; 504 (or a cut connection once the
  // response has started) beyond. 0 = no limit, as in HAProxy and NGINX.
  Duration request_timeout = Duration(0);
  // Clients (CIDRs) whose X-Forwarded-For / Forwarded / X-Forwarded-Proto / X-Forwarded-Host
  // are kept and appended to; from anyone else they are dropped and replaced.
  std::vector<std::string> trusted_proxies;
  // Bodies of the errors the proxy generates, by status (400 408 413 414 431 404 502 503 504);
  // text/plain. A status not listed gets "<status> <reason>\n".
  std::map<int, std::string> error_bodies;
  AccessLogConfig access_log;
  Http2Config http2;
  // mode: tcp only (l4/). Routes by the TLS ClientHello's server name, without terminating TLS;
  // a connection no entry takes (no SNI, not TLS) goes to `backend`.
  std::vector<SniRouteConfig> sni_routes;
  // Concurrent connections of the listener, across workers; over it, new ones are closed at
  // once. 0 = unlimited.
  std::uint32_t max_connections = 0;
  // Load balancers (CIDRs) in front that send a PROXY v1/v2 header; when set, connections
  // must come from these and start with a header, whose source then stands for the client.
  std::vector<std::string> proxy_protocol_from;
  // mode: udp only (l4/udp_listener.h). A flow (one client address) ends after this long without
  // a datagram either way; its next datagram picks a server again.
  Duration flow_idle_timeout = std::chrono::seconds(30);
  // Flows per worker; datagrams of new flows are dropped (and counted) while the table is full.
  std::uint32_t max_flows = 65536;
  TlsConfig tls;    // mode: http only
  HstsConfig hsts;  // tls listeners only
  Mark mark;
  KeyMarks key_marks;
  bool operator==(const ListenerConfig&) const = default;
};

// The Prometheus exporter: GET /metrics on its own HTTP listener (off unless configured).
struct MetricsConfig {
  bool enabled = false;
  Address address;  // host:port; port 0 picks a free one (tests)
  Mark mark;
  bool operator==(const MetricsConfig&) const = default;
};

// The admin API: a Unix socket for lbctl (one JSON request and response per line).
struct AdminConfig {
  bool enabled = false;
  std::string socket = "/run/fulcrum/admin.sock";
  std::uint32_t mode = 0660;  // permissions of the socket file
  Mark mark;
  bool operator==(const AdminConfig&) const = default;
};

struct Config {
  std::string source;    // the file it was read from, or "<command line>"
  unsigned workers = 0;  // 0 = auto: one per CPU core
  Duration shutdown_timeout = std::chrono::seconds(10);
  // After a reload, a connection busy on a backend the new config no longer has (a WebSocket
  // tunnel, a long response) may go on this long before it is closed; others are not touched.
  Duration reload_grace = std::chrono::seconds(30);
  // After it runs out of events, a worker keeps polling for new ones this long before it
  // sleeps (HAProxy's busy-polling): waking a sleeping CPU costs an interrupt, which on a VM is
  // an exit to the hypervisor on both CPUs. Burns CPU while idle traffic trickles in. 0 = off.
  Duration busy_poll = Duration(0);
  LogLevel log_level = LogLevel::kInfo;
  std::vector<ListenerConfig> listeners;  // at least one
  std::vector<BackendConfig> backends;
  MetricsConfig metrics;
  AdminConfig admin;
  Mark mark;  // the document's top-level mapping
  KeyMarks key_marks;
  // Compares `source` too: load both sides under the same name to compare their contents.
  bool operator==(const Config&) const = default;
};

std::string_view to_string(LogLevel v);
std::string_view to_string(Mode v);
std::string_view to_string(ProxyProtocol v);
std::string_view to_string(UpstreamProtocol v);
std::string_view to_string(BalanceAlgorithm v);
std::string_view to_string(ServerKind v);

}  // namespace fulcrum::config
