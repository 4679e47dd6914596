// Canonical results writer, key escaping, sorting and partition merging.
#include <gtest/gtest.h>

#include "aggregate.hpp"
#include "json_core.hpp"
#include "sha256.hpp"

namespace mr {
namespace {

TEST(CanonicalWriter, EmptyResults) {
  ResultSet r;
  EXPECT_EQ(render_results(r),
            "{\"version\":1,\"counts\":{\"lines\":0,\"valid\":0,\"invalid\":0,\"dropped\":0,\"aggregated\":0},"
            "\"byType\":[],\"byUser\":[],\"byTag\":[],\"byWindow\":[]}\n");
}

TEST(CanonicalWriter, StringsEscapeOnlyQuoteBackslashAndControls) {
  std::string out;
  append_json_string(out, std::string("a\"b\\c/d\x7f\x01\x1f\n\xc3\xa9", 13));
  EXPECT_EQ(out, "\"a\\\"b\\\\c/d\x7f\\u0001\\u001f\\u000a\xc3\xa9\"");
  out.clear();
  append_json_string(out, std::string("\0", 1));
  EXPECT_EQ(out, "\"\\u0000\"");
}

std::vector<std::unique_ptr<Partition>> make_parts(int n, std::size_t tags) {
  std::vector<std::unique_ptr<Partition>> parts;
  for (int i = 0; i < n; ++i) {
    parts.push_back(std::make_unique<Partition>());
    parts.back()->by_tag.resize(tags);
  }
  return parts;
}

// Adds one event the way the pipeline routes it (users and windows by their own hash).
void add(std::vector<std::unique_ptr<Partition>>& parts, std::string_view type, std::string_view user,
         std::int64_t win, int v) {
  const std::size_t n = parts.size();
  Partition& up = *parts[partition_of(hash_bytes(user), n)];
  up.by_user.upsert(hash_bytes(user), user).stats.add(v);
  const std::uint64_t wh = window_hash(win, hash_bytes(type));
  Partition& wp = *parts[partition_of(wh, n)];
  KeySlot& t = wp.by_type.upsert(hash_bytes(type), type);
  t.stats.add(v);
  WindowSlot& w = wp.by_window.upsert(wh, win, t.key, t.len);
  ++w.count;
  w.sum += v;
  if (!wp.by_tag.empty()) wp.by_tag[0].add(v);
}

TEST(CanonicalWriter, RowsAndWindows) {
  auto parts = make_parts(1, 0);
  add(parts, "cl\"ick", "u", -60, 5);
  add(parts, "cl\"ick", "u", -60, -7);
  ResultSet r = collect_results({3, 2, 1, 0, 2}, parts, {}, 1);
  EXPECT_EQ(render_results(r),
            "{\"version\":1,\"counts\":{\"lines\":3,\"valid\":2,\"invalid\":1,\"dropped\":0,\"aggregated\":2},"
            "\"byType\":[{\"key\":\"cl\\\"ick\",\"count\":2,\"sum\":-2,\"min\":-7,\"max\":5}],"
            "\"byUser\":[{\"key\":\"u\",\"count\":2,\"sum\":-2,\"min\":-7,\"max\":5}],"
            "\"byTag\":[],\"byWindow\":[{\"start\":\"1969-12-31T23:59:00Z\",\"type\":\"cl\\\"ick\",\"count\":2,\"sum\":-2}]}\n");
}

TEST(CanonicalWriter, MergesPartitionsAndSortsByBytes) {
  for (int n : {1, 2, 5}) {
    auto parts = make_parts(n, 1);
    add(parts, "b", "\xc3\xa9", 60, 1);
    add(parts, "b", "Z", 0, 2);
    add(parts, "a", "z", 60, 3);
    add(parts, "B", "z2", 60, 4);
    add(parts, "b", "Z", 60, 5);
    const std::vector<std::string> tag_keys = {"tier=x"};  // the result set keeps views into it
    ResultSet r = collect_results({5, 5, 0, 0, 5}, parts, tag_keys, 2);
    ASSERT_EQ(r.by_type.size(), 3u);
    EXPECT_EQ(r.by_type[0].key, "B");
    EXPECT_EQ(r.by_type[1].key, "a");
    EXPECT_EQ(r.by_type[2].key, "b");
    EXPECT_EQ(r.by_type[2].stats.count, 3);
    EXPECT_EQ(r.by_type[2].stats.sum, 8);
    ASSERT_EQ(r.by_tag.size(), 1u);
    EXPECT_EQ(r.by_tag[0].stats.count, 5);
    const std::string text = render_results(r);
    // Users by bytes: "Z" < "z" < "z2" < "\xc3\xa9"; windows by start then type bytes.
    EXPECT_NE(text.find("\"byUser\":[{\"key\":\"Z\",\"count\":2,\"sum\":7,\"min\":2,\"max\":5},{\"key\":\"z\",\"count\":1,"
                        "\"sum\":3,\"min\":3,\"max\":3},{\"key\":\"z2\",\"count\":1,\"sum\":4,\"min\":4,\"max\":4},"
                        "{\"key\":\"\xc3\xa9\",\"count\":1,\"sum\":1,\"min\":1,\"max\":1}]"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("\"byWindow\":[{\"start\":\"1970-01-01T00:00:00Z\",\"type\":\"b\",\"count\":1,\"sum\":2},"
                        "{\"start\":\"1970-01-01T00:01:00Z\",\"type\":\"B\",\"count\":1,\"sum\":4},"
                        "{\"start\":\"1970-01-01T00:01:00Z\",\"type\":\"a\",\"count\":1,\"sum\":3},"
                        "{\"start\":\"1970-01-01T00:01:00Z\",\"type\":\"b\",\"count\":2,\"sum\":6}]}\n"),
              std::string::npos)
        << text;
  }
}

TEST(StatsMap, GrowsAndKeepsKeys) {
  StatsMap m;
  for (int i = 0; i < 10000; ++i) {
    std::string k = "user" + std::to_string(i);
    m.upsert(hash_bytes(k), k).stats.add(i);
  }
  for (int i = 0; i < 10000; ++i) {
    std::string k = "user" + std::to_string(i);
    m.upsert(hash_bytes(k), k).stats.add(1);
  }
  EXPECT_EQ(m.size(), 10000u);
  std::int64_t total = 0;
  for (const auto& s : m.slots()) total += s.key ? s.stats.count : 0;
  EXPECT_EQ(total, 20000);
}

TEST(WindowMap, GrowsAndKeepsKeys) {
  WindowMap m;
  const char* types[] = {"a", "bb"};
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 5000; ++i) {
      const char* t = types[i % 2];
      auto len = static_cast<std::uint32_t>(std::strlen(t));
      m.upsert(window_hash(i * 60, hash_bytes({t, len})), i * 60, t, len).count++;
    }
  }
  EXPECT_EQ(m.size(), 5000u);
  for (const auto& s : m.slots()) {
    if (s.type) EXPECT_EQ(s.count, 2);
  }
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // Incremental updates of awkward sizes give the same digest.
  std::string million(1000000, 'a');
  for (bool use_openssl : {true, false}) {
    Sha256 h(use_openssl);
    for (std::size_t off = 0, step = 1; off < million.size(); off += step, step = step * 3 % 1000 + 1)
      h.update(std::string_view(million).substr(off, step));
    EXPECT_EQ(h.hex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    Sha256 abc(use_openssl);
    abc.update("ab");
    abc.update("c");
    EXPECT_EQ(abc.hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  }
}

}  // namespace
}  // namespace mr
