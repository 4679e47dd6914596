// Threads and data flow of the monolith.
//
//  reader ──(bounded batch queue)──▶ N parsers ──(per-partition slices, try-lock)──▶ P partitions
//                                          └──(dead-letter blocks)──▶ writer (restores line order)
//
// Memory stays flat: input is read into a fixed pool of chunk buffers, batches reference their
// chunk, and the reader may run at most kWindow batches ahead of the dead-letter writer.
#include "pipeline.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "aggregate.hpp"
#include "bounded_queue.hpp"
#include "event_parser.hpp"
#include "json_core.hpp"
#include "latency_histogram.hpp"
#include "sha256.hpp"
#include "timestamp.hpp"

namespace mr {
namespace {

using Clock = std::chrono::steady_clock;

// ---- input chunks -----------------------------------------------------------------------------

struct Chunk {
  char* data = nullptr;
  std::size_t size = 0;  // bytes filled
};

// A fixed set of read buffers; acquire() blocks while every buffer is referenced by batches.
class ChunkPool {
 public:
  ChunkPool(std::size_t count, std::size_t bytes) : bytes_(bytes) {
    for (std::size_t i = 0; i < count; ++i) {
      auto buf = std::make_unique<char[]>(bytes + kReadPadding);
      std::memset(buf.get() + bytes, 0, kReadPadding);
      free_.push_back(buf.get());
      owned_.push_back(std::move(buf));
    }
  }

  std::shared_ptr<Chunk> acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !free_.empty(); });
    char* buf = free_.back();
    free_.pop_back();
    lock.unlock();
    auto* c = new Chunk{buf, 0};
    return std::shared_ptr<Chunk>(c, [this](Chunk* chunk) {
      {
        std::lock_guard g(mu_);
        free_.push_back(chunk->data);
      }
      cv_.notify_one();
      delete chunk;
    });
  }
  std::size_t bytes() const { return bytes_; }

 private:
  std::size_t bytes_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<char*> free_;
  std::vector<std::unique_ptr<char[]>> owned_;
};

constexpr std::uint32_t kOversize = UINT32_MAX;

struct LineRef {
  std::uint32_t offset;
  std::uint32_t length;  // kOversize: a line > 1 MiB whose bytes were skipped
};

struct Batch {
  std::uint64_t seq = 0;
  std::uint64_t first_line = 1;
  std::shared_ptr<Chunk> chunk;
  std::vector<LineRef> lines;
  Clock::time_point created;
};

struct DeadLetterBlock {
  std::uint64_t seq;
  std::string text;
};

// Lets the reader run at most `size` batches ahead of the last batch written in order.
class SeqWindow {
 public:
  explicit SeqWindow(std::uint64_t size) : size_(size) {}
  void wait_for_room(std::uint64_t seq) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return seq < done_ + size_; });
  }
  void advance(std::uint64_t done) {
    {
      std::lock_guard g(mu_);
      done_ = done;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t done_ = 0;
  std::uint64_t size_;
};

// ---- reader -----------------------------------------------------------------------------------

class Reader {
 public:
  Reader(int fd, ChunkPool& pool, BoundedQueue<std::unique_ptr<Batch>>& out, SeqWindow& window, std::size_t batch_size)
      : fd_(fd), pool_(pool), out_(out), window_(window), batch_size_(batch_size) {}

  std::int64_t bytes_read() const { return bytes_; }
  std::string error() const { return error_; }

  void run() {
    std::shared_ptr<Chunk> prev;
    std::size_t carry_from = 0, carry_len = 0;
    bool skipping = false, skip_blank = true;
    for (;;) {
      std::shared_ptr<Chunk> chunk = pool_.acquire();
      std::size_t filled = 0;
      if (carry_len > 0) std::memcpy(chunk->data, prev->data + carry_from, carry_len);
      filled = carry_len;
      prev.reset();
      bool eof = false;
      const std::size_t cap = pool_.bytes();
      while (filled < cap) {
        ssize_t n = ::read(fd_, chunk->data + filled, cap - filled);
        if (n < 0) {
          if (errno == EINTR) continue;
          error_ = std::string("read failed: ") + std::strerror(errno);
          eof = true;
          break;
        }
        if (n == 0) {
          eof = true;
          break;
        }
        filled += static_cast<std::size_t>(n);
        bytes_ += n;
      }
      chunk->size = filled;
      const char* data = chunk->data;
      std::size_t pos = 0;
      if (skipping) {
        const char* nl = static_cast<const char*>(std::memchr(data, '\n', filled));
        std::size_t upto = nl ? static_cast<std::size_t>(nl - data) : filled;
        if (skip_blank) skip_blank = blank(data, upto);
        if (nl != nullptr) {
          emit(chunk, {0, skip_blank ? 0u : kOversize});
          skipping = false;
          pos = upto + 1;
        } else {
          pos = filled;
        }
      }
      while (pos < filled) {
        const char* nl = static_cast<const char*>(std::memchr(data + pos, '\n', filled - pos));
        if (nl == nullptr) break;
        std::size_t end = static_cast<std::size_t>(nl - data);
        emit(chunk, {static_cast<std::uint32_t>(pos), static_cast<std::uint32_t>(end - pos)});
        pos = end + 1;
      }
      std::size_t rest = filled - pos;
      carry_len = 0;
      if (eof) {
        if (skipping) {
          emit(chunk, {0, skip_blank ? 0u : kOversize});
        } else if (rest > 0) {
          emit(chunk, {static_cast<std::uint32_t>(pos), static_cast<std::uint32_t>(rest)});
        }
        flush();
        break;
      }
      if (!skipping && rest > kMaxLineBytes + 1) {
        // Longer than 1 MiB even if it ends in "\r": skip its bytes until the newline.
        skipping = true;
        skip_blank = blank(data + pos, rest);
      } else if (!skipping) {
        carry_from = pos;
        carry_len = rest;
        prev = chunk;
      }
      flush();
    }
    out_.close();
  }

 private:
  static bool blank(const char* p, std::size_t n) { return is_blank_line(std::string_view(p, n)); }

  void emit(const std::shared_ptr<Chunk>& chunk, LineRef ref) {
    if (!batch_) {
      batch_ = std::make_unique<Batch>();
      batch_->chunk = chunk;
      batch_->first_line = next_line_;
      batch_->lines.reserve(std::min<std::size_t>(batch_size_, 65536));
    }
    batch_->lines.push_back(ref);
    ++next_line_;
    if (batch_->lines.size() >= batch_size_) flush();
  }

  void flush() {
    if (!batch_) return;
    batch_->seq = next_seq_++;
    window_.wait_for_room(batch_->seq);
    batch_->created = Clock::now();
    out_.push(std::move(batch_));
    batch_.reset();
  }

  int fd_;
  ChunkPool& pool_;
  BoundedQueue<std::unique_ptr<Batch>>& out_;
  SeqWindow& window_;
  std::size_t batch_size_;
  std::unique_ptr<Batch> batch_;
  std::uint64_t next_line_ = 1;
  std::uint64_t next_seq_ = 0;
  std::int64_t bytes_ = 0;
  std::string error_;
};

// ---- parsers ----------------------------------------------------------------------------------

struct Record {
  std::string_view type, user;
  std::uint64_t type_hash, user_hash, window_hash;
  std::int64_t window;
  std::int32_t value;
  std::uint32_t tag_begin, tag_count;
};

class Worker {
 public:
  Worker(const Rules& rules, std::vector<std::unique_ptr<Partition>>& parts)
      : rules_(rules), parts_(parts), user_slices_(parts.size()), window_slices_(parts.size()), tag_out_(rules.tag_names.size() + 1) {}

  const Counts& counts() const { return counts_; }
  const LatencyHistogram& latency() const { return latency_; }

  void run(BoundedQueue<std::unique_ptr<Batch>>& in, BoundedQueue<DeadLetterBlock>& dead) {
    while (auto batch = in.pop()) {
      DeadLetterBlock block{(*batch)->seq, {}};
      process(**batch, &block.text);
      latency_.record_ns(static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - (*batch)->created).count()));
      batch->reset();  // release the chunk before waiting on the writer
      dead.push(std::move(block));
    }
  }

  void process(const Batch& b, std::string* dead) {
    records_.clear();
    tag_ids_.clear();
    escaped_.clear();
    const char* data = b.chunk->data;
    for (std::size_t i = 0; i < b.lines.size(); ++i) {
      const LineRef ref = b.lines[i];
      const std::uint64_t line_no = b.first_line + i;
      if (ref.length == kOversize) {
        ++counts_.lines;
        dead_letter(dead, line_no, "invalid_json", "line longer than 1 MiB");
        continue;
      }
      std::string_view line(data + ref.offset, ref.length);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.empty() || (line[0] != '{' && is_blank_line(line))) continue;
      ++counts_.lines;
      if (line.size() > kMaxLineBytes) {
        dead_letter(dead, line_no, "invalid_json", "line longer than 1 MiB");
        continue;
      }
      Event ev;
      JsonError err;
      LineStatus st = parser_.parse(line, &ev, &err);
      if (st != LineStatus::kValid) {
        std::string detail = err.what;
        if (st == LineStatus::kInvalidJson) detail += " at byte " + std::to_string(err.offset);
        dead_letter(dead, line_no, st == LineStatus::kInvalidJson ? "invalid_json" : "invalid_event", detail);
        continue;
      }
      ++counts_.valid;
      if (rules_.dropped(ev)) {
        ++counts_.dropped;
        continue;
      }
      ++counts_.aggregated;
      Record r;
      r.type = stable(ev.type, line);
      r.user = stable(ev.user, line);
      r.type_hash = hash_bytes(r.type);
      r.user_hash = hash_bytes(r.user);
      r.window = window_start(ev.epoch, rules_.window_seconds);
      r.window_hash = window_hash(r.window, r.type_hash);
      r.value = ev.value;
      r.tag_begin = static_cast<std::uint32_t>(tag_ids_.size());
      r.tag_count = static_cast<std::uint32_t>(rules_.apply_tags(ev, winners_, tag_out_.data()));
      tag_ids_.insert(tag_ids_.end(), tag_out_.begin(), tag_out_.begin() + r.tag_count);
      records_.push_back(r);
    }
    counts_.invalid = counts_.lines - counts_.valid;
    aggregate();
  }

 private:
  // Decoded strings that live in the parser's scratch buffers are copied out for the batch.
  std::string_view stable(std::string_view v, std::string_view line) {
    if (v.data() >= line.data() && v.data() + v.size() <= line.data() + line.size()) return v;
    return escaped_.emplace_back(v);
  }

  void dead_letter(std::string* out, std::uint64_t line, const char* reason, const std::string& detail) {
    *out += "{\"line\":";
    *out += std::to_string(line);
    *out += ",\"reason\":\"";
    *out += reason;
    *out += "\",\"detail\":";
    append_json_string(*out, detail);
    *out += "}\n";
  }

  void aggregate() {
    const std::size_t p = parts_.size();
    for (auto& s : user_slices_) s.clear();
    for (auto& s : window_slices_) s.clear();
    for (std::uint32_t i = 0; i < records_.size(); ++i) {
      user_slices_[partition_of(records_[i].user_hash, p)].push_back(i);
      window_slices_[partition_of(records_[i].window_hash, p)].push_back(i);
    }
    // Visit the partitions whose lock is free first; block only when every remaining one is busy.
    pending_.clear();
    for (std::size_t i = 0; i < p; ++i) {
      if (!user_slices_[i].empty() || !window_slices_[i].empty()) pending_.push_back(i);
    }
    while (!pending_.empty()) {
      bool progressed = false;
      for (std::size_t k = 0; k < pending_.size();) {
        std::unique_lock lock(parts_[pending_[k]]->mu, std::try_to_lock);
        if (!lock.owns_lock()) {
          ++k;
          continue;
        }
        apply(pending_[k]);
        pending_[k] = pending_.back();
        pending_.pop_back();
        progressed = true;
      }
      if (!progressed && !pending_.empty()) {
        std::lock_guard lock(parts_[pending_.back()]->mu);
        apply(pending_.back());
        pending_.pop_back();
      }
    }
  }

  void apply(std::size_t p) {
    Partition& part = *parts_[p];
    for (std::uint32_t idx : user_slices_[p]) {
      const Record& r = records_[idx];
      part.by_user.upsert(r.user_hash, r.user).stats.add(r.value);
    }
    for (std::uint32_t idx : window_slices_[p]) {
      const Record& r = records_[idx];
      KeySlot& type = part.by_type.upsert(r.type_hash, r.type);
      type.stats.add(r.value);
      WindowSlot& w = part.by_window.upsert(r.window_hash, r.window, type.key, type.len);
      ++w.count;
      w.sum += r.value;
      for (std::uint32_t t = 0; t < r.tag_count; ++t) part.by_tag[tag_ids_[r.tag_begin + t]].add(r.value);
    }
  }

  const Rules& rules_;
  std::vector<std::unique_ptr<Partition>>& parts_;
  EventParser parser_;
  Counts counts_;
  LatencyHistogram latency_;
  std::vector<Record> records_;
  std::vector<std::uint32_t> tag_ids_;
  std::vector<std::vector<std::uint32_t>> user_slices_, window_slices_;
  std::vector<std::size_t> pending_;
  std::vector<std::int32_t> winners_;
  std::vector<std::uint32_t> tag_out_;
  std::deque<std::string> escaped_;
};

// ---- writer -----------------------------------------------------------------------------------

// Writes dead-letter blocks in batch order, whatever order the parsers finish them in.
class DeadLetterWriter {
 public:
  DeadLetterWriter(std::FILE* f, SeqWindow& window) : f_(f), window_(window) {}

  void run(BoundedQueue<DeadLetterBlock>& in) {
    while (auto block = in.pop()) {
      pending_.emplace(block->seq, std::move(block->text));
      while (!pending_.empty() && pending_.begin()->first == next_) {
        const std::string& t = pending_.begin()->second;
        if (!t.empty() && std::fwrite(t.data(), 1, t.size(), f_) != t.size()) failed_ = true;
        pending_.erase(pending_.begin());
        ++next_;
        window_.advance(next_);
      }
      if (pending_.size() > high_water_) high_water_ = pending_.size();
    }
  }
  bool failed() const { return failed_; }
  std::size_t high_water() const { return high_water_; }

 private:
  std::FILE* f_;
  SeqWindow& window_;
  std::map<std::uint64_t, std::string> pending_;
  std::uint64_t next_ = 0;
  std::size_t high_water_ = 0;
  bool failed_ = false;
};

std::int64_t peak_rss_bytes() {
  // VmHWM is the resident-set high-water mark of this process.
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  }
  struct rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<std::int64_t>(ru.ru_maxrss) * 1024;
}

bool write_file(const std::filesystem::path& path, const std::string& text, std::string* error) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  if (!out) {
    *error = "cannot write " + path.string();
    return false;
  }
  return true;
}

std::string fmt_double(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6f", v);
  return buf;
}

}  // namespace

RunStatus run_pipeline_status(const PipelineOptions& opts, RunReport* report, std::string* error) {
  const auto t0 = Clock::now();
  const int threads = std::max(1, opts.threads);
  const int nparts = std::max(1, opts.partitions);
  const std::size_t batch_size = std::max<std::size_t>(1, opts.batch_size);

  int fd = ::open(opts.input.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = "cannot read input " + opts.input + ": " + std::strerror(errno);
    return RunStatus::kUnreadableInput;
  }
  struct stat st{};
  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    *error = "cannot read input " + opts.input + ": is a directory";
    return RunStatus::kUnreadableInput;
  }
  posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};

  std::error_code ec;
  std::filesystem::create_directories(opts.out_dir, ec);
  const std::filesystem::path dir(opts.out_dir);
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> dead_file(std::fopen((dir / "dead-letters.ndjson").c_str(), "wb"),
                                                             &std::fclose);
  if (!dead_file) {
    *error = "cannot write to output directory " + opts.out_dir + ": " + std::strerror(errno);
    return RunStatus::kIoError;
  }
  std::setvbuf(dead_file.get(), nullptr, _IOFBF, 1 << 20);

  std::vector<std::unique_ptr<Partition>> parts;
  for (int i = 0; i < nparts; ++i) {
    parts.push_back(std::make_unique<Partition>());
    parts.back()->by_tag.resize(opts.rules.tag_keys.size());
  }

  const std::size_t queue_cap = 2 * static_cast<std::size_t>(threads) + 2;
  const std::uint64_t window_size = 4 * static_cast<std::uint64_t>(threads) + 8;
  ChunkPool pool(static_cast<std::size_t>(threads) + 4, std::max<std::size_t>(opts.chunk_bytes, 2 * (kMaxLineBytes + 2)));
  BoundedQueue<std::unique_ptr<Batch>> batches(queue_cap);
  BoundedQueue<DeadLetterBlock> dead_blocks(window_size + threads);
  SeqWindow window(window_size);

  Reader reader(fd, pool, batches, window, batch_size);
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < threads; ++i) workers.push_back(std::make_unique<Worker>(opts.rules, parts));
  DeadLetterWriter writer(dead_file.get(), window);

  std::vector<std::thread> pool_threads;
  std::thread writer_thread([&] { writer.run(dead_blocks); });
  for (auto& w : workers) pool_threads.emplace_back([&, wp = w.get()] { wp->run(batches, dead_blocks); });
  std::thread reader_thread([&] { reader.run(); });
  reader_thread.join();
  for (auto& t : pool_threads) t.join();
  dead_blocks.close();
  writer_thread.join();

  const auto t_processed = Clock::now();
  if (!reader.error().empty()) {
    *error = "input " + opts.input + ": " + reader.error();
    return RunStatus::kUnreadableInput;
  }
  if (writer.failed() || std::fflush(dead_file.get()) != 0) {
    *error = "cannot write " + (dir / "dead-letters.ndjson").string();
    return RunStatus::kIoError;
  }
  dead_file.reset();

  Counts counts;
  LatencyHistogram latency;
  for (const auto& w : workers) {
    counts.merge(w->counts());
    latency.merge(w->latency());
  }
  const auto results_path = dir / "results.json";
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> results_file(std::fopen(results_path.c_str(), "wb"), &std::fclose);
  std::string checksum;
  if (results_file) {
    checksum = write_results(collect_results(counts, parts, opts.rules.tag_keys, threads), results_file.get(), nullptr);
  }
  if (!results_file || checksum.empty() || std::fclose(results_file.release()) != 0) {
    *error = "cannot write " + results_path.string();
    return RunStatus::kIoError;
  }
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();

  auto ms = [](std::uint64_t ns) { return fmt_double(static_cast<double>(ns) / 1e6); };
  std::string m = "{\"mode\":\"monolith\"";
  m += ",\"events\":" + std::to_string(counts.lines);
  m += ",\"valid\":" + std::to_string(counts.valid);
  m += ",\"invalid\":" + std::to_string(counts.invalid);
  m += ",\"wallSeconds\":" + fmt_double(wall);
  m += ",\"eventsPerSecond\":" + fmt_double(wall > 0 ? static_cast<double>(counts.lines) / wall : 0);
  m += ",\"bytes\":" + std::to_string(reader.bytes_read());
  m += ",\"mbPerSecond\":" + fmt_double(wall > 0 ? static_cast<double>(reader.bytes_read()) / 1e6 / wall : 0);
  m += ",\"checksum\":\"" + checksum + "\"";
  m += ",\"processSeconds\":" + fmt_double(std::chrono::duration<double>(t_processed - t0).count());
  m += ",\"batches\":" + std::to_string(latency.count());
  m += ",\"batchLatencyMs\":{\"p50\":" + ms(latency.quantile_ns(0.50)) + ",\"p95\":" + ms(latency.quantile_ns(0.95)) +
       ",\"p99\":" + ms(latency.quantile_ns(0.99)) + ",\"max\":" + ms(latency.max_ns()) + "}";
  m += ",\"queueHighWater\":{\"batches\":" + std::to_string(batches.high_water()) +
       ",\"batchesCapacity\":" + std::to_string(batches.capacity()) +
       ",\"deadLetterBlocks\":" + std::to_string(dead_blocks.high_water()) +
       ",\"writerReorder\":" + std::to_string(writer.high_water()) + "}";
  m += ",\"threads\":" + std::to_string(threads);
  m += ",\"batchSize\":" + std::to_string(batch_size);
  m += ",\"partitions\":" + std::to_string(nparts);
  m += ",\"chunkBytes\":" + std::to_string(pool.bytes());
  m += ",\"peakRssBytes\":" + std::to_string(peak_rss_bytes());
  m += "}\n";
  if (!write_file(dir / "metrics.json", m, error)) return RunStatus::kIoError;

  report->events = counts.lines;
  report->bytes = reader.bytes_read();
  report->wall_seconds = wall;
  report->checksum = checksum;
  report->metrics_json = m;
  return RunStatus::kOk;
}

}  // namespace mr
