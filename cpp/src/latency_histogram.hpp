// Fixed-size log-linear latency histogram (about 1.6 % resolution) so that latency tracking
// costs constant memory however many batches a run has.
#pragma once

#include <array>
#include <bit>
#include <cstdint>

namespace mr {

class LatencyHistogram {
 public:
  void record_ns(std::uint64_t ns) {
    ++buckets_[bucket_of(ns)];
    ++count_;
    if (ns > max_ns_) max_ns_ = ns;
  }
  void merge(const LatencyHistogram& o) {
    for (std::size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += o.buckets_[i];
    count_ += o.count_;
    if (o.max_ns_ > max_ns_) max_ns_ = o.max_ns_;
  }
  std::uint64_t count() const { return count_; }
  std::uint64_t max_ns() const { return max_ns_; }
  // Upper bound of the bucket holding the q-quantile (q in [0,1]); 0 when empty.
  std::uint64_t quantile_ns(double q) const {
    if (count_ == 0) return 0;
    std::uint64_t rank = static_cast<std::uint64_t>(q * static_cast<double>(count_ - 1)) + 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
      seen += buckets_[i];
      if (seen >= rank) {
        std::uint64_t hi = upper_of(i);
        return hi < max_ns_ ? hi : max_ns_;
      }
    }
    return max_ns_;
  }

 private:
  static constexpr int kSubBits = 6;  // 64 linear sub-buckets per power of two
  static constexpr std::size_t kBuckets = (64 - kSubBits + 1) << kSubBits;

  static std::size_t bucket_of(std::uint64_t v) {
    if (v < (1u << kSubBits)) return static_cast<std::size_t>(v);
    int msb = 63 - std::countl_zero(v);
    int shift = msb - kSubBits;
    std::uint64_t sub = (v >> shift) & ((1u << kSubBits) - 1);
    return (static_cast<std::size_t>(shift + 1) << kSubBits) + sub;
  }
  static std::uint64_t upper_of(std::size_t b) {
    if (b < (1u << kSubBits)) return b;
    int shift = static_cast<int>(b >> kSubBits) - 1;
    std::uint64_t sub = b & ((1u << kSubBits) - 1);
    return (((std::uint64_t{1} << kSubBits) | sub) << shift) + ((std::uint64_t{1} << shift) - 1);
  }

  std::array<std::uint64_t, kBuckets> buckets_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ns_ = 0;
};

}  // namespace mr
