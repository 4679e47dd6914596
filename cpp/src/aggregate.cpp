// Aggregation maps, per-partition sorting, and the streaming canonical results writer.
#include "aggregate.hpp"

#include <algorithm>
#include <charconv>
#include <map>
#include <queue>
#include <thread>
#include <unordered_map>

#include "json_core.hpp"
#include "timestamp.hpp"

namespace mr {

const char* Arena::store(std::string_view s) {
  if (blocks_.empty() || s.size() > cap_ - used_) {
    std::size_t n = std::max<std::size_t>(64 * 1024, s.size());
    blocks_.push_back(std::make_unique<char[]>(n));
    used_ = 0;
    cap_ = n;
  }
  char* dst = blocks_.back().get() + used_;
  if (!s.empty()) std::memcpy(dst, s.data(), s.size());
  used_ += s.size();
  return dst;
}

StatsMap::StatsMap() : slots_(64), mask_(63) {}

KeySlot& StatsMap::upsert(std::uint64_t hash, std::string_view key) {
  std::size_t i = hash & mask_;
  for (;;) {
    KeySlot& s = slots_[i];
    if (s.key == nullptr) break;
    if (s.hash == hash && s.len == key.size() && std::memcmp(s.key, key.data(), key.size()) == 0) return s;
    i = (i + 1) & mask_;
  }
  if ((size_ + 1) * 2 > slots_.size()) {
    grow();
    i = hash & mask_;
    while (slots_[i].key != nullptr) i = (i + 1) & mask_;
  }
  KeySlot& s = slots_[i];
  s.key = arena_.store(key);
  s.len = static_cast<std::uint32_t>(key.size());
  s.hash = hash;
  ++size_;
  return s;
}

void StatsMap::grow() {
  std::vector<KeySlot> old(slots_.size() * 2);
  old.swap(slots_);
  mask_ = slots_.size() - 1;
  for (const KeySlot& s : old) {
    if (s.key == nullptr) continue;
    std::size_t i = s.hash & mask_;
    while (slots_[i].key != nullptr) i = (i + 1) & mask_;
    slots_[i] = s;
  }
}

WindowMap::WindowMap() : slots_(64), mask_(63) {}

WindowSlot& WindowMap::upsert(std::uint64_t hash, std::int64_t start, const char* type, std::uint32_t type_len) {
  std::size_t i = hash & mask_;
  for (;;) {
    WindowSlot& s = slots_[i];
    if (s.type == nullptr) break;
    if (s.start == start && s.type == type) return s;
    i = (i + 1) & mask_;
  }
  // Up to 3/4 full: slots are small and the hash is well mixed.
  if ((size_ + 1) * 4 > slots_.size() * 3) {
    grow();
    i = hash & mask_;
    while (slots_[i].type != nullptr) i = (i + 1) & mask_;
  }
  WindowSlot& s = slots_[i];
  s.start = start;
  s.type = type;
  s.type_len = type_len;
  ++size_;
  return s;
}

void WindowMap::grow() {
  std::vector<WindowSlot> old(slots_.size() * 2);
  old.swap(slots_);
  mask_ = slots_.size() - 1;
  for (const WindowSlot& s : old) {
    if (s.type == nullptr) continue;
    std::size_t i = window_hash(s.start, hash_bytes(s.type_view())) & mask_;
    while (slots_[i].type != nullptr) i = (i + 1) & mask_;
    slots_[i] = s;
  }
}

namespace {

bool key_less(const KeySlot* a, const KeySlot* b) { return a->view() < b->view(); }

// Small groups (types, tags): sum partial rows by key, ordered by key bytes.
void add_partial(std::map<std::string_view, Stats>& m, std::string_view key, const Stats& s) {
  auto [it, inserted] = m.try_emplace(key, s);
  if (!inserted) it->second.merge(s);
}

// Buffered output that hashes exactly the bytes it writes.
class Out {
 public:
  Out(std::FILE* f, std::string* text) : file_(f), text_(text) { buf_.reserve(kFlushAt + 4096); }
  std::string& buf() { return buf_; }
  void maybe_flush() {
    if (buf_.size() >= kFlushAt) flush();
  }
  void flush() {
    sha_.update(buf_);
    if (file_ != nullptr) {
      if (!buf_.empty() && std::fwrite(buf_.data(), 1, buf_.size(), file_) != buf_.size()) failed_ = true;
    } else {
      text_->append(buf_);
    }
    buf_.clear();
  }
  std::string finish() {
    flush();
    return sha_.hex();
  }
  bool failed() const { return failed_; }

 private:
  static constexpr std::size_t kFlushAt = 1 << 20;
  std::FILE* file_;
  std::string* text_;
  std::string buf_;
  Sha256 sha_;
  bool failed_ = false;
};

void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

void append_stats_row(std::string& out, std::string_view key, const Stats& s) {
  out += "{\"key\":";
  append_json_string(out, key);
  out += ",\"count\":";
  append_int(out, s.count);
  out += ",\"sum\":";
  append_int(out, s.sum);
  out += ",\"min\":";
  append_int(out, s.min);
  out += ",\"max\":";
  append_int(out, s.max);
  out.push_back('}');
}

void append_window_row(std::string& out, const WindowSlot& w) {
  out += "{\"start\":\"";
  append_utc(out, w.start);
  out += "\",\"type\":";
  append_json_string(out, w.type_view());
  out += ",\"count\":";
  append_int(out, w.count);
  out += ",\"sum\":";
  append_int(out, w.sum);
  out.push_back('}');
}

// Visits the union of sorted, disjoint runs in order.
template <typename T, typename Less, typename Visit>
void merge_runs(const std::vector<std::vector<T>>& runs, Less less, Visit visit) {
  using Head = std::pair<T, std::size_t>;  // element, run index
  auto greater = [&](const Head& a, const Head& b) { return less(b.first, a.first); };
  std::priority_queue<Head, std::vector<Head>, decltype(greater)> heap(greater);
  std::vector<std::size_t> pos(runs.size(), 0);
  for (std::size_t r = 0; r < runs.size(); ++r) {
    if (!runs[r].empty()) heap.push({runs[r][0], r});
  }
  while (!heap.empty()) {
    auto [item, r] = heap.top();
    heap.pop();
    visit(item);
    if (++pos[r] < runs[r].size()) heap.push({runs[r][pos[r]], r});
  }
}

}  // namespace

ResultSet collect_results(const Counts& counts, const std::vector<std::unique_ptr<Partition>>& parts,
                          const std::vector<std::string>& tag_keys, int threads) {
  ResultSet r;
  r.counts = counts;
  std::map<std::string_view, Stats> types, tags;
  r.user_runs.resize(parts.size());
  r.window_runs.resize(parts.size());
  for (std::size_t p = 0; p < parts.size(); ++p) {
    const Partition& part = *parts[p];
    for (const KeySlot& s : part.by_type.slots()) {
      if (s.key != nullptr) add_partial(types, s.view(), s.stats);
    }
    for (std::size_t i = 0; i < part.by_tag.size(); ++i) {
      if (part.by_tag[i].count > 0) add_partial(tags, tag_keys[i], part.by_tag[i]);
    }
  }
  for (const auto& [k, s] : types) r.by_type.push_back({k, s});
  for (const auto& [k, s] : tags) r.by_tag.push_back({k, s});

  // Each partition gathers and sorts its own rows; partitions are spread over the threads.
  auto sort_partition = [&](std::size_t p) {
    const Partition& part = *parts[p];
    auto& users = r.user_runs[p];
    users.reserve(part.by_user.size());
    for (const KeySlot& s : part.by_user.slots()) {
      if (s.key != nullptr) users.push_back(&s);
    }
    std::sort(users.begin(), users.end(), key_less);
    std::unordered_map<const char*, std::uint32_t> rank_of;
    for (const KeySlot& s : part.by_type.slots()) {
      if (s.key == nullptr) continue;
      auto it = std::lower_bound(r.by_type.begin(), r.by_type.end(), s.view(),
                                 [](const KeyRow& row, std::string_view k) { return row.key < k; });
      rank_of[s.key] = static_cast<std::uint32_t>(it - r.by_type.begin());
    }
    auto& windows = r.window_runs[p];
    windows.reserve(part.by_window.size());
    for (const WindowSlot& s : part.by_window.slots()) {
      if (s.type != nullptr) windows.push_back({s.start, rank_of.at(s.type), &s});
    }
    std::sort(windows.begin(), windows.end());
  };
  const std::size_t nthreads = std::min<std::size_t>(std::max(1, threads), parts.size());
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < nthreads; ++t) {
    pool.emplace_back([&, t] {
      for (std::size_t p = t; p < parts.size(); p += nthreads) sort_partition(p);
    });
  }
  for (std::size_t p = 0; p < parts.size(); p += nthreads) sort_partition(p);
  for (auto& th : pool) th.join();
  return r;
}

std::string write_results(const ResultSet& r, std::FILE* file, std::string* text) {
  Out out(file, text);
  std::string& b = out.buf();
  b += "{\"version\":1,\"counts\":{\"lines\":";
  append_int(b, r.counts.lines);
  b += ",\"valid\":";
  append_int(b, r.counts.valid);
  b += ",\"invalid\":";
  append_int(b, r.counts.invalid);
  b += ",\"dropped\":";
  append_int(b, r.counts.dropped);
  b += ",\"aggregated\":";
  append_int(b, r.counts.aggregated);
  b += "},\"byType\":[";
  for (std::size_t i = 0; i < r.by_type.size(); ++i) {
    if (i > 0) b.push_back(',');
    append_stats_row(b, r.by_type[i].key, r.by_type[i].stats);
  }
  b += "],\"byUser\":[";
  bool first = true;
  merge_runs(r.user_runs, key_less, [&](const KeySlot* s) {
    if (!first) b.push_back(',');
    first = false;
    append_stats_row(b, s->view(), s->stats);
    out.maybe_flush();
  });
  b += "],\"byTag\":[";
  for (std::size_t i = 0; i < r.by_tag.size(); ++i) {
    if (i > 0) b.push_back(',');
    append_stats_row(b, r.by_tag[i].key, r.by_tag[i].stats);
  }
  b += "],\"byWindow\":[";
  first = true;
  merge_runs(r.window_runs, std::less<WindowRef>(), [&](const WindowRef& w) {
    if (!first) b.push_back(',');
    first = false;
    append_window_row(b, *w.slot);
    out.maybe_flush();
  });
  b += "]}\n";
  std::string digest = out.finish();
  return out.failed() ? std::string() : digest;
}

std::string render_results(const ResultSet& r) {
  std::string text;
  write_results(r, nullptr, &text);
  return text;
}

}  // namespace mr
