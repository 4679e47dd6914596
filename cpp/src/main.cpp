// monolith — the threaded C++ implementation of the NDJSON event pipeline.
//
//   monolith --input events.ndjson --out out/ [--rules rules.json] [--threads N]
//            [--batch-size B] [--partitions P] [--control-url http://127.0.0.1:3000] [--name NAME]
//
// Writes out/results.json, out/dead-letters.ndjson and out/metrics.json and prints a one-line
// summary. Exit codes: 0 success, 2 bad arguments / rules file / unreadable input, 1 other I/O.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>

#include "control_client.hpp"
#include "pipeline.hpp"
#include "rules.hpp"

namespace {

constexpr const char* kUsage =
    "usage: monolith --input FILE --out DIR [--rules FILE] [--threads N] [--batch-size B]\n"
    "                [--partitions P] [--control-url URL] [--name NAME]\n";

int usage_error(const std::string& msg) {
  std::cerr << "monolith: " << msg << "\n" << kUsage;
  return 2;
}

bool parse_positive(const std::string& s, long long max, long long* out) {
  if (s.empty() || s.size() > 12) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  long long v = std::stoll(s);
  if (v < 1 || v > max) return false;
  *out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string input, out_dir, rules_path, control_url, name = "monolith";
  long long threads = 0, batch = 32768, partitions = 0;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    std::string value;
    std::size_t eq = arg.find('=');
    if (arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return usage_error("missing value for " + arg);
    }
    if (arg == "--input") input = value;
    else if (arg == "--out") out_dir = value;
    else if (arg == "--rules") rules_path = value;
    else if (arg == "--control-url") control_url = value;
    else if (arg == "--name") name = value;
    else if (arg == "--threads") {
      if (!parse_positive(value, 1024, &threads)) return usage_error("--threads must be 1..1024, got " + value);
    } else if (arg == "--batch-size") {
      if (!parse_positive(value, 10'000'000, &batch)) return usage_error("--batch-size must be 1..10000000, got " + value);
    } else if (arg == "--partitions") {
      if (!parse_positive(value, 4096, &partitions)) return usage_error("--partitions must be 1..4096, got " + value);
    } else {
      return usage_error("unknown option " + arg);
    }
  }
  if (input.empty()) return usage_error("--input is required");
  if (out_dir.empty()) return usage_error("--out is required");

  mr::PipelineOptions opts;
  if (!rules_path.empty()) {
    std::string error;
    auto rules = mr::load_rules_file(rules_path, &error);
    if (!rules) {
      std::cerr << "monolith: " << error << "\n";
      return 2;
    }
    opts.rules = std::move(*rules);
  } else {
    opts.rules = mr::default_rules();
  }
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  if (partitions == 0) partitions = threads;
  opts.input = input;
  opts.out_dir = out_dir;
  opts.threads = static_cast<int>(threads);
  opts.batch_size = static_cast<std::size_t>(batch);
  opts.partitions = static_cast<int>(partitions);

  std::unique_ptr<mr::ControlClient> control;
  if (!control_url.empty()) {
    mr::ControlClient::Options co;
    co.url = control_url;
    co.name = name;
    if (const char* pn = std::getenv("MR_PROCESS_NAME")) co.process_name = pn;
    std::string warning;
    control = mr::ControlClient::start(co, &warning);
    if (!control) std::cerr << "monolith: warning: " << warning << " (continuing without registration)\n";
  }

  mr::RunReport report;
  std::string error;
  const mr::RunStatus status = mr::run_pipeline_status(opts, &report, &error);
  if (status != mr::RunStatus::kOk) {
    std::cerr << "monolith: " << error << "\n";
    return status == mr::RunStatus::kUnreadableInput ? 2 : 1;
  }
  control.reset();  // unregister before reporting
  std::printf("monolith: %lld events in %.3f s (%.0f events/s), checksum %s\n", static_cast<long long>(report.events),
              report.wall_seconds, report.wall_seconds > 0 ? report.events / report.wall_seconds : 0.0,
              report.checksum.c_str());
  return 0;
}
