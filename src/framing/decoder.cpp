#include "moat/framing/decoder.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace moat::framing {
namespace {

// The smallest buffer allocated: enough for a few small frames or one small read.
constexpr std::size_t min_capacity = 512;

constexpr std::size_t saturating_add(std::size_t a, std::size_t b) noexcept {
  return a > options::unlimited - b ? options::unlimited : a + b;
}

}  // namespace

decoder::decoder(options o) noexcept
    : opts_(o), limit_(effective_max_packet_size(o)), header_(header_size(o.mode)) {}

decoder::decoder(decoder&& other) noexcept
    : opts_(other.opts_),
      limit_(other.limit_),
      header_(other.header_),
      buf_(std::move(other.buf_)),
      capacity_(std::exchange(other.capacity_, 0)),
      begin_(std::exchange(other.begin_, 0)),
      end_(std::exchange(other.end_, 0)),
      consume_(std::exchange(other.consume_, 0)),
      prepared_(std::exchange(other.prepared_, 0)),
      scanned_(std::exchange(other.scanned_, 0)),
      error_(std::exchange(other.error_, {})) {}

decoder& decoder::operator=(decoder&& other) noexcept {
  if (this != &other) {
    opts_ = other.opts_;
    limit_ = other.limit_;
    header_ = other.header_;
    buf_ = std::move(other.buf_);
    capacity_ = std::exchange(other.capacity_, 0);
    begin_ = std::exchange(other.begin_, 0);
    end_ = std::exchange(other.end_, 0);
    consume_ = std::exchange(other.consume_, 0);
    prepared_ = std::exchange(other.prepared_, 0);
    scanned_ = std::exchange(other.scanned_, 0);
    error_ = std::exchange(other.error_, {});
  }
  return *this;
}

decoder::~decoder() = default;

void decoder::release_frame() noexcept {
  begin_ += std::exchange(consume_, 0);
  if (begin_ == end_) begin_ = end_ = 0;
}

void decoder::fail(errc e) noexcept {
  error_ = e;
  begin_ = end_ = consume_ = prepared_ = scanned_ = 0;
}

void decoder::ensure_space(std::size_t n) {
  if (capacity_ - end_ >= n) return;
  const std::size_t data = end_ - begin_;
  const std::size_t needed = saturating_add(data, n);
  // Compact when that makes room and moves no more bytes than it reclaims; otherwise grow,
  // but never beyond one maximal frame plus this chunk (unless the caller buffers more).
  const std::size_t bound = std::max(needed, saturating_add(saturating_add(header_, limit_), n));
  if (needed <= capacity_ && (begin_ >= data || capacity_ >= bound)) {
    if (data > 0) std::memmove(buf_.get(), buf_.get() + begin_, data);
    begin_ = 0;
    end_ = data;
    return;
  }
  std::size_t grown =
      std::max({capacity_ > bound / 2 ? bound : capacity_ * 2, needed, min_capacity});
  grown = std::min(grown, bound);
  auto fresh = std::make_unique_for_overwrite<std::uint8_t[]>(grown);
  if (data > 0) std::memcpy(fresh.get(), buf_.get() + begin_, data);
  buf_ = std::move(fresh);
  capacity_ = grown;
  begin_ = 0;
  end_ = data;
}

void decoder::feed(std::span<const std::uint8_t> bytes) {
  release_frame();
  prepared_ = 0;
  if (error_ || bytes.empty()) return;
  ensure_space(bytes.size());
  std::memcpy(buf_.get() + end_, bytes.data(), bytes.size());
  end_ += bytes.size();
}

std::span<std::uint8_t> decoder::prepare(std::size_t n) {
  release_frame();
  if (error_) begin_ = end_ = 0;
  ensure_space(n);
  prepared_ = n;
  return {buf_.get() + end_, n};
}

void decoder::commit(std::size_t n) noexcept {
  n = std::min(n, prepared_);
  prepared_ = 0;
  if (error_) return;
  end_ += n;
}

std::uint64_t decoder::read_length(const std::uint8_t* p) const noexcept {
  std::uint64_t len = 0;
  for (std::size_t i = 0; i < header_; ++i) len = (len << 8U) | p[i];
  return len;
}

std::optional<std::span<const std::uint8_t>> decoder::next(std::error_code& ec) noexcept {
  release_frame();
  prepared_ = 0;
  if (error_) {
    ec = error_;
    return std::nullopt;
  }
  ec.clear();
  const std::size_t avail = end_ - begin_;
  const std::uint8_t* data = buf_.get() + begin_;
  switch (opts_.mode) {
    case packet_mode::raw:
      if (avail == 0) return std::nullopt;
      consume_ = avail;
      return std::span<const std::uint8_t>(data, avail);

    case packet_mode::line: {
      const std::size_t window = std::min(avail, limit_);
      if (scanned_ < window) {
        const void* nl = std::memchr(data + scanned_, '\n', window - scanned_);
        if (nl != nullptr) {
          const std::size_t len =
              static_cast<std::size_t>(static_cast<const std::uint8_t*>(nl) - data) + 1;
          consume_ = len;
          scanned_ = 0;
          return std::span<const std::uint8_t>(data, len);
        }
        scanned_ = window;
      }
      if (avail >= limit_) {
        // limit_ bytes without a newline: the line, with its '\n', cannot fit.
        fail(errc::line_too_long);
        ec = error_;
      }
      return std::nullopt;
    }

    case packet_mode::u8:
    case packet_mode::u16:
    case packet_mode::u32: {
      if (avail < header_) return std::nullopt;
      const std::uint64_t len = read_length(data);
      if (len > limit_) {
        fail(errc::frame_too_large);
        ec = error_;
        return std::nullopt;
      }
      const auto size = static_cast<std::size_t>(len);
      if (avail - header_ < size) return std::nullopt;
      consume_ = header_ + size;
      return std::span<const std::uint8_t>(data + header_, size);
    }
  }
  return std::nullopt;
}

void decoder::finish(std::error_code& ec) noexcept {
  release_frame();
  prepared_ = 0;
  if (!error_ && opts_.mode != packet_mode::raw && end_ > begin_) fail(errc::truncated);
  ec = error_;
}

std::size_t decoder::buffered() const noexcept {
  return end_ - begin_ - consume_;
}

std::span<const std::uint8_t> decoder::buffered_bytes() const noexcept {
  if (buffered() == 0) return {};
  return {buf_.get() + begin_ + consume_, buffered()};
}

std::size_t decoder::wanted() const noexcept {
  if (error_ || header_ == 0) return 1;
  const std::size_t start = begin_ + consume_;
  const std::size_t avail = end_ - start;
  if (avail < header_) return header_ - avail;
  const std::uint64_t len = read_length(buf_.get() + start);
  if (len > limit_) return 1;
  const std::size_t total = header_ + static_cast<std::size_t>(len);
  return avail < total ? total - avail : 1;
}

void decoder::reset(options o) noexcept {
  opts_ = o;
  limit_ = effective_max_packet_size(o);
  header_ = header_size(o.mode);
  begin_ = end_ = consume_ = prepared_ = scanned_ = 0;
  error_.clear();
}

void decoder::shrink_to_fit() {
  release_frame();
  prepared_ = 0;
  const std::size_t data = end_ - begin_;
  if (data == capacity_) return;
  if (data == 0) {
    buf_.reset();
    capacity_ = begin_ = end_ = 0;
    return;
  }
  auto fresh = std::make_unique_for_overwrite<std::uint8_t[]>(data);
  std::memcpy(fresh.get(), buf_.get() + begin_, data);
  buf_ = std::move(fresh);
  capacity_ = data;
  begin_ = 0;
  end_ = data;
}

}  // namespace moat::framing
