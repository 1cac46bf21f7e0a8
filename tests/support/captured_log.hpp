#pragma once
// A logger whose lines a test reads while the code under test writes them (every line is
// kept, under the sink's lock).
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/support.hpp"

namespace moat::test {

class captured_log {
  class sink final : public spdlog::sinks::base_sink<std::mutex> {
   public:
    std::vector<std::string> lines() {
      std::lock_guard lock(mutex_);
      return lines_;
    }

   protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
      lines_.emplace_back(msg.payload.data(), msg.payload.size());
    }
    void flush_() override {}

   private:
    std::vector<std::string> lines_;
  };

 public:
  explicit captured_log(const std::string& name = "test")
      : sink_(std::make_shared<sink>()), logger_(std::make_shared<spdlog::logger>(name, sink_)) {
    logger_->set_level(spdlog::level::debug);
  }
  [[nodiscard]] const std::shared_ptr<spdlog::logger>& logger() const { return logger_; }
  /// Every line so far, one per element.
  [[nodiscard]] std::vector<std::string> lines() const { return sink_->lines(); }
  /// The lines containing `needle`.
  [[nodiscard]] std::vector<std::string> lines(const std::string& needle) const {
    std::vector<std::string> out;
    for (auto& l : lines())
      if (l.find(needle) != std::string::npos) out.push_back(std::move(l));
    return out;
  }
  /// How many lines contain `needle`.
  [[nodiscard]] std::size_t count(const std::string& needle) const { return lines(needle).size(); }
  /// Waits until a line contains `needle` (the deadline scales for sanitizer builds).
  [[nodiscard]] bool wait_for(const std::string& needle,
                              std::chrono::milliseconds limit = std::chrono::seconds(10)) const {
    const auto deadline = std::chrono::steady_clock::now() + scaled(limit);
    while (std::chrono::steady_clock::now() < deadline) {
      if (count(needle) != 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

 private:
  std::shared_ptr<sink> sink_;
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace moat::test
