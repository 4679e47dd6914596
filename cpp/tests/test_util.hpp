// Helpers shared by the GoogleTest suites: parse one line with padding, run the whole pipeline
// on an in-memory input through temporary files.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "event_parser.hpp"
#include "pipeline.hpp"
#include "rules.hpp"

namespace mr::test {

struct LineCheck {
  LineStatus status;
  Event event;
  std::string type, user;  // owned copies
  std::string why;
};

inline LineCheck check_line(const std::string& line) {
  static thread_local EventParser parser;
  std::string padded = line + std::string(kReadPadding, '\n');
  LineCheck c{};
  JsonError err;
  c.status = parser.parse(std::string_view(padded.data(), line.size()), &c.event, &err);
  if (c.status == LineStatus::kValid) {
    c.type = std::string(c.event.type);
    c.user = std::string(c.event.user);
  } else {
    c.why = err.what ? err.what : "";
  }
  return c;
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("monolith-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct RunOutput {
  bool ok = false;
  std::string error, results, dead_letters, metrics;
  RunReport report;
};

inline RunOutput run_on_input(const std::string& input, const Rules& rules = default_rules(), int threads = 2,
                              std::size_t batch = 3, int partitions = 2, std::size_t chunk_bytes = 4u << 20) {
  TempDir dir;
  {
    std::ofstream f(dir.path() / "in.ndjson", std::ios::binary);
    f.write(input.data(), static_cast<std::streamsize>(input.size()));
  }
  PipelineOptions o;
  o.input = (dir.path() / "in.ndjson").string();
  o.out_dir = (dir.path() / "out").string();
  o.rules = rules;
  o.threads = threads;
  o.batch_size = batch;
  o.partitions = partitions;
  o.chunk_bytes = chunk_bytes;
  RunOutput out;
  out.ok = run_pipeline(o, &out.report, &out.error);
  out.results = read_file(dir.path() / "out" / "results.json");
  out.dead_letters = read_file(dir.path() / "out" / "dead-letters.ndjson");
  out.metrics = read_file(dir.path() / "out" / "metrics.json");
  return out;
}

}  // namespace mr::test
