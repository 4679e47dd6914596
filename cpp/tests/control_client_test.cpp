// Topology registration against a tiny fake HTTP server on loopback.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "control_client.hpp"

namespace mr {
namespace {

struct Request {
  std::string path, headers, body;
};

// Serves one connection at a time; answers every request with the same status and body.
class FakeServer {
 public:
  FakeServer(int status, std::string body) : status_(status), body_(std::move(body)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<Request> requests() {
    std::lock_guard g(mu_);
    return requests_;
  }

 private:
  void serve() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string raw;
      char buf[4096];
      std::size_t header_end = std::string::npos, need = 0;
      for (;;) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        raw.append(buf, static_cast<std::size_t>(n));
        if (header_end == std::string::npos && (header_end = raw.find("\r\n\r\n")) != std::string::npos) {
          std::size_t cl = raw.find("Content-Length: ");
          need = cl == std::string::npos ? 0 : std::stoul(raw.substr(cl + 16));
        }
        if (header_end != std::string::npos && raw.size() >= header_end + 4 + need) break;
      }
      if (header_end != std::string::npos) {
        Request r;
        std::size_t sp1 = raw.find(' '), sp2 = raw.find(' ', sp1 + 1);
        r.path = raw.substr(sp1 + 1, sp2 - sp1 - 1);
        r.headers = raw.substr(0, header_end);
        r.body = raw.substr(header_end + 4);
        std::lock_guard g(mu_);
        requests_.push_back(r);
      }
      std::string resp = "HTTP/1.1 " + std::to_string(status_) + " X\r\nContent-Type: application/json\r\nContent-Length: " +
                         std::to_string(body_.size()) + "\r\nConnection: close\r\n\r\n" + body_;
      ::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }

  int status_;
  std::string body_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Request> requests_;
  std::thread thread_;
};

TEST(ControlClient, RegistersHeartbeatsAndUnregisters) {
  FakeServer server(200, R"({"instanceId":"inst-1","heartbeatIntervalMs":40})");
  ControlClient::Options o;
  o.url = server.url();
  o.process_name = "pipeline-monolith";
  std::string warning;
  {
    auto c = ControlClient::start(o, &warning);
    ASSERT_NE(c, nullptr) << warning;
    EXPECT_EQ(c->instance_id(), "inst-1");
    EXPECT_EQ(c->heartbeat_interval_ms(), 40);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (c->heartbeats_sent() < 2 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto reqs = server.requests();
  ASSERT_GE(reqs.size(), 4u);
  EXPECT_EQ(reqs[0].path, "/runtime.v1.TopologyService/RegisterService");
  EXPECT_NE(reqs[0].headers.find("Content-Type: application/json"), std::string::npos);
  const std::string& b = reqs[0].body;
  EXPECT_EQ(b.rfind(R"({"name":"monolith","type":"SERVICE_TYPE_HYBRID","language":"SERVICE_LANGUAGE_CPP","version":"0.1.0","host":")", 0), 0u) << b;
  EXPECT_NE(b.find(",\"pid\":" + std::to_string(getpid()) + ","), std::string::npos) << b;
  EXPECT_NE(b.find(R"("processName":"pipeline-monolith","metadata":{"mode":"monolith"}})"), std::string::npos) << b;
  EXPECT_EQ(reqs[1].path, "/runtime.v1.TopologyService/SendHeartbeat");
  EXPECT_EQ(reqs[1].body.rfind(R"({"instanceId":"inst-1","sequence":"1","health":{"state":"HEALTH_STATE_HEALTHY","message":"running"},"metrics":{"rssBytes":")", 0), 0u) << reqs[1].body;
  EXPECT_NE(reqs[2].body.find(R"("sequence":"2")"), std::string::npos);
  EXPECT_EQ(reqs.back().path, "/runtime.v1.TopologyService/UnregisterService");
  EXPECT_EQ(reqs.back().body, R"({"instanceId":"inst-1"})");
}

TEST(ControlClient, DefaultIntervalAndStringInt64) {
  FakeServer server(200, R"({"instanceId":"i2","heartbeatIntervalMs":"1234","extra":{"a":[1]}})");
  ControlClient::Options o;
  o.url = server.url() + "/";
  std::string warning;
  auto c = ControlClient::start(o, &warning);
  ASSERT_NE(c, nullptr) << warning;
  EXPECT_EQ(c->heartbeat_interval_ms(), 1234);
}

TEST(ControlClient, ServerErrorGivesWarning) {
  FakeServer server(503, R"({"code":"unavailable","message":"down"})");
  ControlClient::Options o;
  o.url = server.url();
  std::string warning;
  EXPECT_EQ(ControlClient::start(o, &warning), nullptr);
  EXPECT_NE(warning.find("503"), std::string::npos) << warning;
}

TEST(ControlClient, UnreachableServerGivesWarning) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);  // nothing listens on this port now
  ControlClient::Options o;
  o.url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  std::string warning;
  EXPECT_EQ(ControlClient::start(o, &warning), nullptr);
  EXPECT_NE(warning.find("cannot connect"), std::string::npos) << warning;
}

}  // namespace
}  // namespace mr
