// Minimal HTTP/1.1 client over POSIX sockets (plain http only; the control server is local).
#include "control_client.hpp"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "json_core.hpp"
#include "json_dom.hpp"

namespace mr {
namespace {

struct ParsedUrl {
  std::string host, port, prefix;
};

bool parse_url(const std::string& url, ParsedUrl* out, std::string* error) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) {
    *error = "control URL " + url + " must start with http://";
    return false;
  }
  std::string rest = url.substr(scheme.size());
  std::size_t slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  out->prefix = slash == std::string::npos ? "" : rest.substr(slash);
  while (!out->prefix.empty() && out->prefix.back() == '/') out->prefix.pop_back();
  std::size_t colon = hostport.rfind(':');
  if (!hostport.empty() && hostport[0] == '[') {  // [v6]:port
    std::size_t close = hostport.find(']');
    out->host = hostport.substr(1, close - 1);
    out->port = close + 1 < hostport.size() && hostport[close + 1] == ':' ? hostport.substr(close + 2) : "80";
  } else if (colon != std::string::npos) {
    out->host = hostport.substr(0, colon);
    out->port = hostport.substr(colon + 1);
  } else {
    out->host = hostport;
    out->port = "80";
  }
  if (out->host.empty()) {
    *error = "control URL " + url + " has no host";
    return false;
  }
  return true;
}

struct Socket {
  int fd = -1;
  ~Socket() {
    if (fd >= 0) ::close(fd);
  }
};

bool send_all(int fd, const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::optional<HttpResponse> http_post_json(const std::string& base_url, const std::string& path,
                                           const std::string& body, int timeout_ms, std::string* error) {
  ParsedUrl u;
  if (!parse_url(base_url, &u, error)) return std::nullopt;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(u.host.c_str(), u.port.c_str(), &hints, &res);
  if (rc != 0) {
    *error = "cannot resolve " + u.host + ": " + gai_strerror(rc);
    return std::nullopt;
  }
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(res, freeaddrinfo);
  Socket sock;
  std::string last_error = "no address";
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      sock.fd = fd;
      break;
    }
    last_error = std::strerror(errno);
    ::close(fd);
  }
  if (sock.fd < 0) {
    *error = "cannot connect to " + base_url + ": " + last_error;
    return std::nullopt;
  }
  std::string host_header = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
  std::string req = "POST " + u.prefix + path + " HTTP/1.1\r\nHost: " + host_header + ":" + u.port +
                    "\r\nContent-Type: application/json\r\nConnect-Protocol-Version: 1\r\nAccept: application/json\r\n"
                    "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  if (!send_all(sock.fd, req)) {
    *error = "cannot send request to " + base_url;
    return std::nullopt;
  }
  std::string raw;
  char buf[8192];
  std::size_t header_end = std::string::npos;
  std::optional<std::size_t> content_length;
  for (;;) {
    ssize_t n = ::recv(sock.fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = "no response from " + base_url + ": " + std::strerror(errno);
      return std::nullopt;
    }
    if (n == 0) break;
    raw.append(buf, static_cast<std::size_t>(n));
    if (header_end == std::string::npos) {
      header_end = raw.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        std::string headers = lower(raw.substr(0, header_end));
        std::size_t cl = headers.find("\r\ncontent-length:");
        if (cl != std::string::npos) content_length = std::stoul(headers.substr(cl + 17));
      }
    }
    if (header_end != std::string::npos && content_length && raw.size() >= header_end + 4 + *content_length) break;
    if (raw.size() > (16u << 20)) break;
  }
  if (header_end == std::string::npos || raw.rfind("HTTP/1.", 0) != 0 || raw.size() < 12) {
    *error = "malformed HTTP response from " + base_url;
    return std::nullopt;
  }
  HttpResponse r;
  r.status = std::atoi(raw.c_str() + 9);
  r.body = raw.substr(header_end + 4);
  if (content_length && r.body.size() > *content_length) r.body.resize(*content_length);
  if (lower(raw.substr(0, header_end)).find("transfer-encoding: chunked") != std::string::npos) {
    // De-chunk: sizes in hex, each chunk followed by CRLF.
    std::string out;
    std::size_t pos = 0;
    while (pos < r.body.size()) {
      std::size_t eol = r.body.find("\r\n", pos);
      if (eol == std::string::npos) break;
      std::size_t n = std::stoul(r.body.substr(pos, eol - pos), nullptr, 16);
      if (n == 0) break;
      out += r.body.substr(eol + 2, n);
      pos = eol + 2 + n + 2;
    }
    r.body = out;
  }
  return r;
}

std::int64_t current_rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::int64_t>(sysconf(_SC_PAGESIZE));
}

std::unique_ptr<ControlClient> ControlClient::start(const Options& opts, std::string* warning) {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  std::string body = "{\"name\":";
  append_json_string(body, opts.name);
  body += ",\"type\":\"SERVICE_TYPE_HYBRID\",\"language\":\"SERVICE_LANGUAGE_CPP\",\"version\":\"0.1.0\",\"host\":";
  append_json_string(body, host);
  body += ",\"pid\":" + std::to_string(getpid());
  if (!opts.process_name.empty()) {
    body += ",\"processName\":";
    append_json_string(body, opts.process_name);
  }
  body += ",\"metadata\":{\"mode\":\"monolith\"}}";
  std::string error;
  auto resp = http_post_json(opts.url, "/runtime.v1.TopologyService/RegisterService", body, opts.timeout_ms, &error);
  if (!resp) {
    *warning = "topology registration failed: " + error;
    return nullptr;
  }
  if (resp->status != 200) {
    *warning = "topology registration failed: HTTP " + std::to_string(resp->status) + " " + resp->body.substr(0, 200);
    return nullptr;
  }
  std::string parse_error;
  auto doc = parse_json_document(resp->body, &parse_error);
  const JsonValue* id = doc ? doc->find("instanceId") : nullptr;
  if (id == nullptr || id->kind != JsonValue::Kind::kString || id->text.empty()) {
    *warning = "topology registration failed: response has no instanceId";
    return nullptr;
  }
  std::unique_ptr<ControlClient> c(new ControlClient());
  c->opts_ = opts;
  c->instance_id_ = id->text;
  if (const JsonValue* iv = doc->find("heartbeatIntervalMs")) {
    // Connect JSON writes int64 as a string and int32 as a number; accept both.
    std::optional<std::int64_t> v;
    if (iv->kind == JsonValue::Kind::kString) {
      JsonValue n;
      n.kind = JsonValue::Kind::kNumber;
      n.text = iv->text;
      v = n.as_int64();
    } else {
      v = iv->as_int64();
    }
    if (v && *v > 0) c->interval_ms_ = *v;
  }
  c->thread_ = std::thread([raw = c.get()] { raw->heartbeat_loop(); });
  return c;
}

void ControlClient::heartbeat_loop() {
  std::int64_t seq = 0;
  std::unique_lock lock(mu_);
  // The first beat goes out at once, so the node leaves REGISTERED as soon as the run starts.
  for (;;) {
    if (stop_) return;
    lock.unlock();
    ++seq;
    std::string body = "{\"instanceId\":";
    append_json_string(body, instance_id_);
    body += ",\"sequence\":\"" + std::to_string(seq) +
            "\",\"health\":{\"state\":\"HEALTH_STATE_HEALTHY\",\"message\":\"running\"},\"metrics\":{\"rssBytes\":\"" +
            std::to_string(current_rss_bytes()) + "\"}}";
    std::string error;
    if (http_post_json(opts_.url, "/runtime.v1.TopologyService/SendHeartbeat", body, opts_.timeout_ms, &error)) ++sent_;
    lock.lock();
    if (cv_.wait_for(lock, std::chrono::milliseconds(interval_ms_), [&] { return stop_; })) return;
  }
}

ControlClient::~ControlClient() {
  {
    std::lock_guard g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::string body = "{\"instanceId\":";
  append_json_string(body, instance_id_);
  body += "}";
  std::string error;
  http_post_json(opts_.url, "/runtime.v1.TopologyService/UnregisterService", body, opts_.timeout_ms, &error);
}

}  // namespace mr
