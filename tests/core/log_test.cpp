// The library's log (shoal/log.hpp): what shoal reports with no caller to
// return it to reaches the sink a program sets, at its level, from any
// thread; the level filters; a sink that throws changes nothing; an empty
// sink restores stderr.
#include "shoal/log.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "shoal/actor_system.hpp"
#include "tests/core/test_support.hpp"

namespace shoal {
namespace {

struct Seen {
  LogLevel level;
  std::string source, message;
};

/// Captures the log while it lives; restores the default after.
class Captured {
 public:
  Captured() {
    set_log_sink([this](const LogRecord& r) {
      std::lock_guard lock(mu_);
      seen_.push_back({r.level, std::string(r.source), std::string(r.message)});
    });
  }
  ~Captured() {
    set_log_sink({});
    set_log_level(LogLevel::info);
  }
  Captured(const Captured&) = delete;
  Captured& operator=(const Captured&) = delete;

  std::vector<Seen> seen() const {
    std::lock_guard lock(mu_);
    return seen_;
  }
  /// The first record whose message contains `part`, if any.
  const Seen* find(std::string_view part) {
    std::lock_guard lock(mu_);
    for (const Seen& s : seen_) {
      if (s.message.find(part) != std::string::npos) return &s;
    }
    return nullptr;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Seen> seen_;
};

struct Boom {};
struct Fails : Handles<Fails, Boom> {
  void on(Context&, Boom&) { throw std::runtime_error("kaput"); }
};

TEST(Log, AnUnobservedActorFailureIsAnError) {
  Captured log;
  ActorSystem system({.scheduler = {.workers = 1}});
  Pid a = system.spawn<Fails>();
  system.send(a, Boom{});
  ASSERT_TRUE(test::eventually([&] { return log.find("kaput") != nullptr; }, "the failure logged"));
  const Seen* s = log.find("kaput");
  EXPECT_EQ(s->level, LogLevel::error);
  EXPECT_EQ(s->source, "actor system");
  EXPECT_NE(s->message.find("actor " + std::to_string(a.id()) + " failed"), std::string::npos)
      << s->message;
}

TEST(Log, AnObserverThatThrowsIsAWarningAndNothingElse) {
  Captured log;
  ActorSystem system({.scheduler = {.workers = 1},
                      .on_dead_letter = [](const DeadLetter&) { throw std::runtime_error("no"); }});
  system.send(Pid(), Boom{});  // an empty Pid: a dead letter at once, on this thread
  const Seen* s = log.find("dead-letter observer threw");
  ASSERT_NE(s, nullptr) << "logged on the sending thread before send returned";
  EXPECT_EQ(s->level, LogLevel::warning);
  EXPECT_EQ(s->source, "dead letters");
  EXPECT_EQ(system.dead_letters().count(DeadLetterReason::empty_pid), 1u) << "still counted";
}

TEST(Log, TheLevelDropsWhatIsBelowIt) {
  Captured log;
  set_log_level(LogLevel::error);
  EXPECT_EQ(log_level(), LogLevel::error);
  shoal::log(LogLevel::warning, "test", "dropped");
  shoal::log(LogLevel::error, "test", "kept");
  set_log_level(LogLevel::off);
  shoal::log(LogLevel::error, "test", "dropped too");
  const std::vector<Seen> seen = log.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].message, "kept");
  EXPECT_EQ(seen[0].source, "test");
  EXPECT_EQ(to_string(seen[0].level), "error");
}

TEST(Log, ASinkThatThrowsIsIgnoredAndAnEmptyOneRestoresStderr) {
  set_log_sink([](const LogRecord&) { throw std::runtime_error("sink"); });
  EXPECT_NO_THROW(shoal::log(LogLevel::error, "test", "into a throwing sink"));
  set_log_sink({});
  ::testing::internal::CaptureStderr();
  shoal::log(LogLevel::warning, "test", "to stderr");
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "shoal test: to stderr\n");
  // A line longer than the default sink's buffer is cut, newline kept.
  ::testing::internal::CaptureStderr();
  shoal::log(LogLevel::warning, "test", std::string(5000, 'x'));
  const std::string line = ::testing::internal::GetCapturedStderr();
  EXPECT_LT(line.size(), 5000u);
  EXPECT_EQ(line.back(), '\n');
}

}  // namespace
}  // namespace shoal
