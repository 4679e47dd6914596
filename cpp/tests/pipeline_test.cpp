// Whole-pipeline behaviour: line framing (CRLF, blank, last line, > 1 MiB), dead-letter order,
// output escaping, and identical results for every thread count and batch size.
#include <gtest/gtest.h>

#include <cstdint>

#include "sha256.hpp"
#include "test_util.hpp"

namespace mr {
namespace {

using test::run_on_input;

const std::string kEmptyResults =
    "{\"version\":1,\"counts\":{\"lines\":0,\"valid\":0,\"invalid\":0,\"dropped\":0,\"aggregated\":0},"
    "\"byType\":[],\"byUser\":[],\"byTag\":[],\"byWindow\":[]}\n";

std::string line(const std::string& type, const std::string& user, int value, const std::string& ts = "2026-03-01T12:00:03Z") {
  return R"({"ts":")" + ts + R"(","type":")" + type + R"(","user":")" + user + R"(","value":)" + std::to_string(value) + "}";
}

TEST(Pipeline, EmptyInput) {
  auto out = run_on_input("");
  ASSERT_TRUE(out.ok) << out.error;
  EXPECT_EQ(out.results, kEmptyResults);
  EXPECT_EQ(out.dead_letters, "");
  EXPECT_NE(out.metrics.find("\"mode\":\"monolith\""), std::string::npos);
  EXPECT_NE(out.metrics.find("\"checksum\":\"" + sha256_hex(kEmptyResults) + "\""), std::string::npos);
}

TEST(Pipeline, BlankLinesAreSkippedButNumbered) {
  auto out = run_on_input("\n   \n\t\r\n" + line("a", "u", 1) + "\n\nnot json\n \r\n");
  ASSERT_TRUE(out.ok) << out.error;
  EXPECT_NE(out.results.find("\"counts\":{\"lines\":2,\"valid\":1,\"invalid\":1,"), std::string::npos) << out.results;
  EXPECT_EQ(out.dead_letters.substr(0, 36), "{\"line\":6,\"reason\":\"invalid_json\",\"d");
}

TEST(Pipeline, CrlfLineEndings) {
  auto out = run_on_input(line("a", "u", 1) + "\r\n" + line("b", "u", 2) + "\r\n");
  ASSERT_TRUE(out.ok) << out.error;
  EXPECT_NE(out.results.find("\"counts\":{\"lines\":2,\"valid\":2,\"invalid\":0,"), std::string::npos) << out.results;
}

TEST(Pipeline, LastLineWithoutNewline) {
  auto out = run_on_input(line("a", "u", 1) + "\n" + line("b", "u", 2));
  ASSERT_TRUE(out.ok) << out.error;
  EXPECT_NE(out.results.find("\"counts\":{\"lines\":2,\"valid\":2,"), std::string::npos) << out.results;
  auto crlf = run_on_input(line("a", "u", 1) + "\r");
  EXPECT_NE(crlf.results.find("\"counts\":{\"lines\":1,\"valid\":1,"), std::string::npos) << crlf.results;
}

TEST(Pipeline, LineOverOneMebibyteIsInvalidJson) {
  const std::string pad(1024 * 1024, 'x');
  std::string exact = R"({"ts":"2026-03-01T12:00:03Z","type":"a","user":"u","value":1,"m":")";
  exact += std::string(1024 * 1024 - exact.size() - 2, 'y') + "\"}";
  ASSERT_EQ(exact.size(), 1024u * 1024u);
  std::string input = line("a", "u", 1) + "\n" +                       // 1 valid
                      "{\"m\":\"" + pad + "\"}\n" +                    // 2 too long (carried)
                      line("b", "u", 2) + "\n" +                       // 3 valid
                      std::string(3 * 1024 * 1024, 'z') + "\n" +       // 4 too long (skipped)
                      exact + "\r\n" +                                 // 5 exactly 1 MiB: valid
                      std::string(3 * 1024 * 1024, ' ') + "\n" +       // 6 blank, however long
                      line("c", "u", 3) + "\n" +                       // 7 valid
                      std::string(5 * 1024 * 1024, 'q');               // 8 too long, no newline
  for (int threads : {1, 3}) {
    auto out = run_on_input(input, default_rules(), threads, 2, 2, 1);
    ASSERT_TRUE(out.ok) << out.error;
    EXPECT_NE(out.results.find("\"counts\":{\"lines\":7,\"valid\":4,\"invalid\":3,"), std::string::npos) << out.results;
    EXPECT_EQ(out.dead_letters,
              "{\"line\":2,\"reason\":\"invalid_json\",\"detail\":\"line longer than 1 MiB\"}\n"
              "{\"line\":4,\"reason\":\"invalid_json\",\"detail\":\"line longer than 1 MiB\"}\n"
              "{\"line\":8,\"reason\":\"invalid_json\",\"detail\":\"line longer than 1 MiB\"}\n");
  }
}

TEST(Pipeline, OutputStringsAreEscaped) {
  auto out = run_on_input(R"({"ts":"2026-03-01T12:00:03Z","type":"a\"b\\c\u0001/\u007f","user":"\u00e9\ud83d\ude00","value":5})" "\n");
  ASSERT_TRUE(out.ok) << out.error;
  EXPECT_NE(out.results.find("\"byType\":[{\"key\":\"a\\\"b\\\\c\\u0001/\x7f\",\"count\":1,\"sum\":5,\"min\":5,\"max\":5}]"),
            std::string::npos)
      << out.results;
  EXPECT_NE(out.results.find("\"byUser\":[{\"key\":\"\xc3\xa9\xf0\x9f\x98\x80\""), std::string::npos) << out.results;
}

TEST(Pipeline, DeadLettersAreValidJsonInLineOrder) {
  std::string input;
  for (int i = 0; i < 500; ++i) input += (i % 3 == 0 ? std::string("{\"bad\":\"\x01\"}") : line("t", "u", i)) + "\n";
  auto out = run_on_input(input, default_rules(), 4, 1, 3);
  ASSERT_TRUE(out.ok) << out.error;
  std::string expected;
  for (int i = 0; i < 500; i += 3) {
    expected += "{\"line\":" + std::to_string(i + 1) +
                ",\"reason\":\"invalid_json\",\"detail\":\"control character in string at byte 8\"}\n";
  }
  EXPECT_EQ(out.dead_letters, expected);
}

TEST(Pipeline, MissingInputFails) {
  PipelineOptions o;
  o.input = "/nonexistent/events.ndjson";
  o.out_dir = "/tmp/unused";
  o.rules = default_rules();
  RunReport r;
  std::string error;
  EXPECT_FALSE(run_pipeline(o, &r, &error));
  EXPECT_NE(error.find("/nonexistent/events.ndjson"), std::string::npos);
}

// Deterministic synthetic corpus with valid events, escapes, offsets, drops and bad lines;
// big enough (> 2 chunks of the 2 MiB minimum) to cross chunk borders.
std::string synthetic_corpus(int lines) {
  std::uint64_t s = 42;
  auto next = [&] {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::uint32_t>(s >> 33);
  };
  const char* types[] = {"click", "view", "purchase", "scroll", "caf\\u00e9"};
  const char* zones[] = {"Z", "+02:00", "-05:30", ".5Z", ".123456789+00:00"};
  std::string out;
  for (int i = 0; i < lines; ++i) {
    std::uint32_t r = next();
    if (r % 50 == 0) {
      out += "{\"ts\":\"2026-02-30T00:00:00Z\",\"type\":\"x\",\"user\":\"u\",\"value\":1}\n";
      continue;
    }
    if (r % 50 == 1) {
      out += "{broken\n";
      continue;
    }
    if (r % 50 == 2) {
      out += "\r\n";
      continue;
    }
    char ts[64];
    std::snprintf(ts, sizeof ts, "20%02u-0%u-1%uT%02u:%02u:%02u%s", 20 + next() % 10, 1 + next() % 9, next() % 10,
                  next() % 24, next() % 60, next() % 60, zones[next() % 5]);
    int value = static_cast<int>(next() % 400) - 100;
    out += "{\"ts\":\"" + std::string(ts) + "\",\"type\":\"" + types[next() % 5] + "\",\"user\":\"u" +
           std::to_string(next() % 3000) + "\",\"value\":" + std::to_string(value) +
           ",\"metadata\":{\"page\":\"/p" + std::to_string(next() % 100) + "\",\"n\":[1,2,{\"x\":null}]}}" +
           (r % 7 == 0 ? "\r\n" : "\n");
  }
  return out;
}

TEST(Pipeline, SameResultsForAnyThreadsAndBatchSize) {
  const std::string corpus = synthetic_corpus(40000);
  ASSERT_GT(corpus.size(), 2u * (2 * (1024 * 1024 + 2)));
  Rules rules;
  std::string error;
  auto parsed = parse_rules(R"({"drop":[{"field":"type","op":"eq","value":"view"}],
     "tag":[{"when":{"field":"value","op":"gte","value":100},"set":{"tier":"high"}},
            {"when":{"field":"value","op":"lt","value":100},"set":{"tier":"low"}},
            {"when":{"field":"user","op":"prefix","value":"u1"},"set":{"grp":"one","tier":"u1"}}],
     "windowSeconds":300})", &error);
  ASSERT_TRUE(parsed) << error;
  rules = *parsed;
  auto reference = run_on_input(corpus, rules, 1, 8192, 1, 1);
  ASSERT_TRUE(reference.ok) << reference.error;
  EXPECT_NE(reference.results.find("\"counts\":{\"lines\":"), std::string::npos);
  EXPECT_NE(reference.dead_letters, "");
  for (int threads = 1; threads <= 8; ++threads) {
    for (std::size_t batch : {1, 7, 100, 8192, 100000}) {
      if (batch == 1 && threads % 3 != 1) continue;  // batch size 1 is slow under sanitizers; sample it
      const int partitions = 1 + (threads * 5 + static_cast<int>(batch)) % 7;
      auto out = run_on_input(corpus, rules, threads, batch, partitions, 1);
      ASSERT_TRUE(out.ok) << out.error;
      EXPECT_EQ(out.results, reference.results) << "threads=" << threads << " batch=" << batch;
      EXPECT_EQ(out.dead_letters, reference.dead_letters) << "threads=" << threads << " batch=" << batch;
      EXPECT_EQ(out.report.checksum, reference.report.checksum);
    }
  }
}

}  // namespace
}  // namespace mr
