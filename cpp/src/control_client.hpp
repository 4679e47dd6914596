// Registration with the control server's TopologyService over Connect unary JSON (HTTP/1.1),
// with a background heartbeat. Failures never stop a run: they become one warning.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace mr {

struct HttpResponse {
  int status = 0;
  std::string body;
};

// POSTs `body` as application/json to base_url + path (base_url like http://127.0.0.1:3000).
std::optional<HttpResponse> http_post_json(const std::string& base_url, const std::string& path,
                                           const std::string& body, int timeout_ms, std::string* error);

class ControlClient {
 public:
  struct Options {
    std::string url;
    std::string name = "monolith";
    std::string process_name;  // from MR_PROCESS_NAME, empty when unset
    int timeout_ms = 2000;
  };

  // Registers and starts heartbeating; returns nullptr (and a warning text) on failure.
  static std::unique_ptr<ControlClient> start(const Options& opts, std::string* warning);
  ~ControlClient();  // stops the heartbeat and unregisters

  const std::string& instance_id() const { return instance_id_; }
  std::int64_t heartbeat_interval_ms() const { return interval_ms_; }
  std::int64_t heartbeats_sent() const { return sent_.load(); }

 private:
  ControlClient() = default;
  void heartbeat_loop();

  Options opts_;
  std::string instance_id_;
  std::int64_t interval_ms_ = 5000;
  std::atomic<std::int64_t> sent_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// Resident set size now (bytes), for heartbeat metrics.
std::int64_t current_rss_bytes();

}  // namespace mr
