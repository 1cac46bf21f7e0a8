#pragma once
// Internal: what the socket's reading and writing halves (socket_read.cpp, socket_write.cpp)
// share -- sizes, the per-thread buffers, and small helpers.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <system_error>
#include <vector>

namespace moat::tls::data_path {

namespace asio = boost::asio;

inline constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);
inline constexpr std::size_t kRecordPlaintext = 16384;
// Frames a reader returns in a row without waiting before it lets the others on its thread
// run: a peer that keeps the socket full must not starve the connections beside it.
inline constexpr unsigned kRunBudget = 16;
// Plaintext encrypted before the records are written out (bounds a large message's output).
inline constexpr std::size_t kEncryptBatch = 4 * kRecordPlaintext;
// Output held back while more requests are waiting to be answered (see may_defer_flush).
inline constexpr std::size_t kDeferLimit = 64 * 1024;

inline std::error_code to_std(const boost::system::error_code& ec) {
  return ec;
}

inline bool would_block(const boost::system::error_code& ec) {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

// A thread's buffers, borrowed by one connection at a time and only between two suspension
// points (a coroutine may resume on another thread: fetch them again after every co_await).
struct thread_buffers {
  static constexpr std::size_t read_size = 64 * 1024;
  std::unique_ptr<std::uint8_t[]> read = std::make_unique_for_overwrite<std::uint8_t[]>(read_size);
  std::unique_ptr<std::uint8_t[]> record =
      std::make_unique_for_overwrite<std::uint8_t[]>(kRecordPlaintext);
  std::vector<std::uint8_t> write;  // lent to an engine as its output buffer
};

inline thread_buffers& buffers() {
  thread_local thread_buffers b;
  return b;
}

// While it lives, the calling coroutine's cancellation (e.g. `op || timer`) runs `f`.
class forward_cancellation {
 public:
  template <class F>
  forward_cancellation(asio::cancellation_slot slot, F f) : slot_(slot) {
    if (slot_.is_connected()) slot_.assign([f](asio::cancellation_type) { f(); });
  }
  ~forward_cancellation() {
    if (slot_.is_connected()) slot_.clear();
  }
  forward_cancellation(const forward_cancellation&) = delete;
  forward_cancellation& operator=(const forward_cancellation&) = delete;

 private:
  asio::cancellation_slot slot_;
};

}  // namespace moat::tls::data_path
