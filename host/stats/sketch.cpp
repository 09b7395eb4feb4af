// Paged integer counts and the two bucket mappings (grid, DDSketch).
#include "attnmc/sketch.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "attnmc/error.hpp"
#include "kernels/sketch_buckets.hpp"

namespace attnmc {

// ---------------------------------------------------------------- CountStore

CountStore::CountStore(std::size_t size) : size_(size), pages_((size + kPage - 1) / kPage) {}

CountStore::CountStore(const CountStore& o)
    : size_(o.size_), total_(o.total_), pages_(o.pages_.size()) {
  std::size_t used = 0;
  for (const std::int64_t* p : o.pages_) used += p ? 1 : 0;
  if (used == 0) return;
  blocks_.emplace_back(new std::int64_t[used * kPageSpan]);  // every element is copied below
  std::int64_t* next = blocks_.back().get();
  for (std::size_t p = 0; p < pages_.size(); ++p)
    if (o.pages_[p]) {
      std::copy_n(o.pages_[p], kPageSpan, next);
      pages_[p] = next;
      next += kPageSpan;
    }
}

std::int64_t* CountStore::new_page() {
  blocks_.emplace_back(new std::int64_t[kPageSpan]());
  return blocks_.back().get();
}

CountStore& CountStore::operator=(const CountStore& o) {
  if (this != &o) *this = CountStore(o);
  return *this;
}

std::int64_t CountStore::at(std::size_t index) const {
  const auto& page = pages_[index / kPage];
  return page ? page[index % kPage] : 0;
}

void CountStore::merge(const CountStore& o) {
  if (o.size_ != size_) throw Error("CountStore::merge: different sizes");
  for (std::size_t p = 0; p < pages_.size(); ++p) {
    if (!o.pages_[p]) continue;
    if (!pages_[p]) pages_[p] = new_page();
    for (std::size_t i = 0; i < kPageSpan; ++i) pages_[p][i] += o.pages_[p][i];  // and the total
  }
  total_ += o.total_;
}

// Counts are never negative: a page whose total leaves the running count at
// or below `rank` cannot hold the bucket, and a page of total 0 is all zeros.
std::size_t CountStore::bucket_of_rank(std::int64_t rank) const {
  std::int64_t seen = 0;
  for (std::size_t p = 0; p < pages_.size(); ++p) {
    const std::int64_t total = pages_[p] ? pages_[p][kPage] : 0;
    if (seen + total <= rank) {
      seen += total;
      continue;
    }
    for (std::size_t i = 0; i < kPage; ++i) {
      seen += pages_[p][i];
      if (seen > rank) return p * kPage + i;
    }
  }
  throw Error("CountStore::bucket_of_rank: rank beyond the count");
}

std::vector<std::pair<std::uint64_t, std::int64_t>> CountStore::nonzero() const {
  std::vector<std::pair<std::uint64_t, std::int64_t>> out;
  for (std::size_t p = 0; p < pages_.size(); ++p) {
    if (pages_[p] == nullptr || pages_[p][kPage] == 0) continue;
    for (std::size_t i = 0; i < kPage; ++i)
      if (pages_[p][i] != 0) out.emplace_back(p * kPage + i, pages_[p][i]);
  }
  return out;
}

std::size_t CountStore::nonzero_count() const {
  std::size_t n = 0;
  for (const std::int64_t* q : pages_)
    if (q != nullptr && q[kPage] != 0)
      for (std::size_t i = 0; i < kPage; ++i) n += q[i] != 0 ? 1 : 0;
  return n;
}

std::size_t CountStore::bytes() const {
  // Pages and their pointers only: the same figure however the pages came
  // (one block or one by one), so that pieces, ranks and a whole run agree.
  std::size_t b = pages_.size() * sizeof(pages_[0]);
  for (const auto& p : pages_)
    if (p) b += kPageSpan * sizeof(std::int64_t);
  return b;
}

void CountStore::allocate_all() {
  std::size_t missing = 0;
  for (const std::int64_t* p : pages_) missing += p ? 0 : 1;
  if (missing == 0) return;
  // Pages already allocated stay where they are; the block holds the rest.
  blocks_.emplace_back(new std::int64_t[missing * kPageSpan]());  // zeroed
  std::int64_t* next = blocks_.back().get();
  for (std::int64_t*& p : pages_)
    if (!p) {
      p = next;
      next += kPageSpan;
    }
}

std::size_t CountStore::max_bytes(std::size_t size) {
  const std::size_t pages = (size + kPage - 1) / kPage;
  // Per page: its counts and total, its pointer, and up to two slots of
  // blocks_ when pages come one at a time.
  return pages * (kPageSpan * sizeof(std::int64_t) + sizeof(std::int64_t*) +
                  2 * sizeof(std::unique_ptr<std::int64_t[]>));
}

bool CountStore::operator==(const CountStore& o) const {
  return size_ == o.size_ && total_ == o.total_ && nonzero() == o.nonzero();
}

// ---------------------------------------------------------------- GridSketch

GridSketch::GridSketch(int cells) : cells_(cells), store_(std::size_t(cells) + 1) {
  if (cells < 1) throw InputError("ensemble.rho_quantile_bins", "must be >= 1");
}

std::size_t GridSketch::bucket(double x) const { return kernels::GridBuckets{cells_}.bucket(x); }

void GridSketch::add(double x) {
  store_.add(bucket(x));
  min_ = std::min(min_, x);
  max_ = std::max(max_, x);
}

double GridSketch::representative(std::size_t b) const {
  if (b >= std::size_t(cells_)) return std::numeric_limits<double>::infinity();
  return -1.0 + (double(b) + 0.5) * 2.0 / double(cells_);
}

double GridSketch::quantile(double q) const {
  if (count() == 0) return std::numeric_limits<double>::quiet_NaN();
  return linear_quantile(count(), q, [&](std::int64_t r) {
    return std::clamp(representative(store_.bucket_of_rank(r)), min_, max_);
  });
}

void GridSketch::merge(const GridSketch& o) {
  if (o.cells_ != cells_) throw Error("GridSketch::merge: different grids");
  store_.merge(o.store_);
  min_ = std::min(min_, o.min_);
  max_ = std::max(max_, o.max_);
}

// ---------------------------------------------------------------- LogSketch
// Bucket layout, ascending in value (K buckets per sign):
//   0 -inf | 1 x < -max | 2 .. K+1 negative, j = hi .. lo | K+2 -min < x < 0 |
//   K+3 zero | K+4 0 < x < min | K+5 .. 2K+4 positive, j = lo .. hi |
//   2K+5 x > max | 2K+6 +inf

namespace {
double log_gamma_of(double a) { return std::log((1.0 + a) / (1.0 - a)); }
}  // namespace

std::size_t LogSketch::buckets_for(double a, double mn, double mx) {
  if (!(a > 0 && a < 1)) throw InputError("ensemble.quantile_accuracy", "must be in (0, 1)");
  if (!(mn > 0 && mx > mn && std::isfinite(mx)))
    throw InputError("ensemble.quantile_accuracy", "bad sketch range");
  const double lg = log_gamma_of(a);
  const double k = std::ceil(std::log(mx) / lg) - std::ceil(std::log(mn) / lg) + 1;
  if (!(k < 1e9)) throw InputError("ensemble.quantile_accuracy", "too fine (too many buckets)");
  return 2 * std::size_t(k) + 7;
}

LogSketch::LogSketch(double a, double mn, double mx) : accuracy_(a) {
  const std::size_t size = buckets_for(a, mn, mx);
  gamma_ = (1.0 + a) / (1.0 - a);
  log_gamma_ = log_gamma_of(a);
  lo_ = log_index(mn);
  hi_ = log_index(mx);
  k_ = std::size_t(hi_ - lo_ + 1);
  store_ = CountStore(size);
}

std::size_t LogSketch::max_bytes(double a, double mn, double mx) {
  return CountStore::max_bytes(buckets_for(a, mn, mx));
}

kernels::LogBuckets LogSketch::buckets() const {
  kernels::LogBuckets b;
  b.log_gamma = log_gamma_;
  b.lo = lo_;
  b.hi = hi_;
  b.k = k_;
  return b;
}

std::int64_t LogSketch::log_index(double magnitude) const { return buckets().log_index(magnitude); }

std::size_t LogSketch::bucket(double x) const { return buckets().bucket(x); }

void LogSketch::add(double x) {
  store_.add(bucket(x));
  min_ = std::min(min_, x);
  max_ = std::max(max_, x);
}

double LogSketch::representative(std::size_t b) const {
  const std::size_t K = k_;
  const double inf = std::numeric_limits<double>::infinity();
  if (b <= 1) return -inf;
  if (b >= 2 * K + 5) return inf;
  if (b >= K + 2 && b <= K + 4) return 0.0;
  const double scale = 2.0 / (1.0 + gamma_);
  if (b < K + 2) return -std::exp(double(hi_ - std::int64_t(b - 2)) * log_gamma_) * scale;
  return std::exp(double(lo_ + std::int64_t(b - K - 5)) * log_gamma_) * scale;
}

double LogSketch::quantile(double q) const {
  if (count() == 0) return std::numeric_limits<double>::quiet_NaN();
  return linear_quantile(count(), q, [&](std::int64_t r) {
    return std::clamp(representative(store_.bucket_of_rank(r)), min_, max_);
  });
}

void LogSketch::merge(const LogSketch& o) {
  if (!(o.accuracy_ == accuracy_ && o.lo_ == lo_ && o.hi_ == hi_))
    throw Error("LogSketch::merge: different sketches");
  store_.merge(o.store_);
  min_ = std::min(min_, o.min_);
  max_ = std::max(max_, o.max_);
}

}  // namespace attnmc
