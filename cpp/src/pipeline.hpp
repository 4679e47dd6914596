// The threaded monolith: reader → N parser/rule threads → hash partitions → writers.
#pragma once

#include <cstdint>
#include <string>

#include "rules.hpp"

namespace mr {

struct PipelineOptions {
  std::string input;
  std::string out_dir;
  Rules rules;
  int threads = 1;
  std::size_t batch_size = 32768;
  int partitions = 1;
  std::size_t chunk_bytes = 4u << 20;  // read size; a line > 1 MiB never needs more than this
};

struct RunReport {
  std::int64_t events = 0;  // non-blank lines
  std::int64_t bytes = 0;
  double wall_seconds = 0;
  std::string checksum;
  std::string metrics_json;
};

enum class RunStatus { kOk, kUnreadableInput, kIoError };

// Runs the whole pipeline and writes DIR/results.json, DIR/dead-letters.ndjson and
// DIR/metrics.json. On failure *error names the file; bad lines never fail a run.
RunStatus run_pipeline_status(const PipelineOptions& opts, RunReport* report, std::string* error);

inline bool run_pipeline(const PipelineOptions& opts, RunReport* report, std::string* error) {
  return run_pipeline_status(opts, report, error) == RunStatus::kOk;
}

}  // namespace mr
