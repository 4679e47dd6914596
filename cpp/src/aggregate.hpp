// Aggregation state. The key space is split into partitions by user hash: each partition owns
// its users outright (byUser rows never meet across partitions) and keeps partial byType /
// byWindow / byTag rows that are summed when the run ends. A partition is touched by one thread
// at a time (its own mutex, taken once per batch slice, never per event).
#pragma once

#include <climits>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace mr {

inline std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

inline std::uint64_t hash_bytes(std::string_view s) {
  const char* p = s.data();
  std::size_t n = s.size();
  std::uint64_t h = 0x9E3779B97F4A7C15ULL ^ (n * 0xff51afd7ed558ccdULL);
  while (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * 0x9ddfea08eb382d69ULL;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    std::uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = (h ^ w) * 0x9ddfea08eb382d69ULL;
  }
  return mix64(h);
}

struct Stats {
  std::int64_t count = 0;
  std::int64_t sum = 0;
  std::int32_t min = INT32_MAX;
  std::int32_t max = INT32_MIN;

  void add(std::int32_t v) {
    ++count;
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  void merge(const Stats& o) {
    count += o.count;
    sum += o.sum;
    if (o.min < min) min = o.min;
    if (o.max > max) max = o.max;
  }
};

// Bump allocator for interned keys; keys never move once stored.
class Arena {
 public:
  std::string_view store(std::string_view s);

 private:
  std::vector<std::unique_ptr<char[]>> blocks_;
  std::size_t used_ = 0, cap_ = 0;
};

// Open-addressing map from (tag, bytes) to Stats. `tag` is 0 for plain keys and the window start
// for byWindow. Keys are copied into the map's arena on first sight only.
class StatsMap {
 public:
  StatsMap();
  Stats& upsert(std::uint64_t hash, std::int64_t tag, std::string_view key);
  std::size_t size() const { return size_; }

  template <typename F>
  void for_each(F&& f) const {
    for (const Slot& s : slots_) {
      if (s.key != nullptr) f(s.tag, std::string_view(s.key, s.len), s.stats);
    }
  }

 private:
  struct Slot {
    std::uint64_t hash = 0;
    std::int64_t tag = 0;
    const char* key = nullptr;
    std::uint32_t len = 0;
    Stats stats;
  };
  void grow();

  std::vector<Slot> slots_;
  std::size_t mask_ = 0, size_ = 0;
  Arena arena_;
};

struct Partition {
  std::mutex mu;
  StatsMap by_type, by_user, by_window;
  std::vector<Stats> by_tag;  // indexed by Rules::tag_keys pair id
};

struct Counts {
  std::int64_t lines = 0, valid = 0, invalid = 0, dropped = 0, aggregated = 0;
  void merge(const Counts& o) {
    lines += o.lines;
    valid += o.valid;
    invalid += o.invalid;
    dropped += o.dropped;
    aggregated += o.aggregated;
  }
};

struct KeyRow {
  std::string key;
  Stats stats;
};
struct WindowRow {
  std::int64_t start;
  std::string type;
  Stats stats;
};

struct ResultSet {
  Counts counts;
  std::vector<KeyRow> by_type, by_user, by_tag;
  std::vector<WindowRow> by_window;
};

// Merges partitions into sorted rows (sorted by key bytes; windows by start then type).
ResultSet collect_results(const Counts& counts, const std::vector<std::unique_ptr<Partition>>& parts,
                          const std::vector<std::string>& tag_keys);

// The canonical results.json text of DESIGN.md §4.4 (with its trailing newline).
std::string render_results(const ResultSet& r);

}  // namespace mr
