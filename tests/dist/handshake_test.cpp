// The distribution handshake's state machine, both ends in memory; the same code against
// real Erlang nodes is in the connection tests.
#include "dist/handshake.hpp"

#include <gtest/gtest.h>

#include "dist/flags.hpp"
#include "moat/dist/errors.hpp"

namespace moat::dist::detail {
namespace {

using next = handshake::next;

handshake::config cfg(std::string name, std::string cookie = "secret", bool hidden = false) {
  return {std::move(name), 7, flag::advertised(hidden), std::move(cookie)};
}

// Runs two ends against each other; the acceptor's decision is `status`.
struct pair_run {
  next a_last{};
  next b_last{};
};

pair_run run(handshake& a, handshake& b, handshake_status status = handshake_status::ok) {
  pair_run r;
  r.a_last = a.start();
  r.b_last = b.start();
  for (int rounds = 0; rounds < 20; ++rounds) {
    bool moved = false;
    for (auto& p : a.take_output()) {
      moved = true;
      r.b_last = b.feed(p);
      if (r.b_last == next::decide) r.b_last = b.decide(status);
    }
    for (auto& p : b.take_output()) {
      moved = true;
      r.a_last = a.feed(p);
    }
    if (!moved) break;
  }
  return r;
}

TEST(HandshakeDigest, IsMd5OfTheCookieAndTheChallengeAsUnsignedDecimal) {
  const auto d = handshake_digest("secret", 4294967295U);
  // MD5("secret4294967295"), computed independently.
  const std::array<std::uint8_t, 16> expected{0x5d, 0xfd, 0x18, 0x1e, 0x69, 0xaa, 0x58, 0x7c,
                                              0xc8, 0x12, 0xeb, 0x33, 0x3e, 0x65, 0x36, 0xb6};
  EXPECT_EQ(d, expected);
}

TEST(Handshake, TwoNodesWithTheSameCookieConnectAndLearnEachOthersNameFlagsAndCreation) {
  auto a = handshake::initiate(cfg("a@host"), "b@host");
  auto b = handshake::accept(cfg("b@host"));
  const auto r = run(a, b);
  ASSERT_EQ(r.a_last, next::done) << a.error().message() << " " << a.detail();
  ASSERT_EQ(r.b_last, next::done) << b.error().message() << " " << b.detail();
  EXPECT_EQ(a.result().peer, "b@host");
  EXPECT_EQ(b.result().peer, "a@host");
  EXPECT_EQ(a.result().peer_creation, 7U);
  EXPECT_EQ(b.result().flags, flag::advertised(false));
  EXPECT_FALSE(a.result().hidden);
}

TEST(Handshake, TheNameMessageIsAlwaysTheVersionSixForm) {
  auto a = handshake::initiate(cfg("a@host"), "b@host");
  ASSERT_EQ(a.start(), next::send_then_read);
  const auto out = a.take_output();
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0][0], 'N');
  EXPECT_EQ(out[0].size(), 1U + 8 + 4 + 2 + 6);
}

TEST(Handshake, DifferentCookiesFailOnTheAcceptorWithBadCookie) {
  auto a = handshake::initiate(cfg("a@host", "one"), "b@host");
  auto b = handshake::accept(cfg("b@host", "two"));
  const auto r = run(a, b);
  EXPECT_EQ(r.b_last, next::failed);
  EXPECT_EQ(b.error(), make_error_code(errc::bad_cookie));
  EXPECT_NE(r.a_last, next::done);
}

TEST(Handshake, AHiddenEndMakesTheConnectionHiddenOnBothSides) {
  auto a = handshake::initiate(cfg("a@host", "secret", true), "b@host");
  auto b = handshake::accept(cfg("b@host"));
  const auto r = run(a, b);
  ASSERT_EQ(r.a_last, next::done);
  ASSERT_EQ(r.b_last, next::done);
  EXPECT_TRUE(a.result().hidden);
  EXPECT_TRUE(b.result().hidden);
}

TEST(Handshake, AnAnswerFromAnotherNodeThanTheOneDialledFailsWithWrongNode) {
  auto a = handshake::initiate(cfg("a@host"), "b@host");
  auto b = handshake::accept(cfg("c@host"));
  const auto r = run(a, b);
  EXPECT_EQ(r.a_last, next::failed);
  EXPECT_EQ(a.error(), make_error_code(errc::wrong_node));
  EXPECT_NE(a.detail().find("c@host"), std::string::npos);
}

TEST(Handshake, RefusalsReachTheInitiatorAsTheirReasons) {
  {
    auto a = handshake::initiate(cfg("a@host"), "b@host");
    auto b = handshake::accept(cfg("b@host"));
    const auto r = run(a, b, handshake_status::not_allowed);
    EXPECT_EQ(a.error(), make_error_code(errc::refused_by_peer));
    EXPECT_EQ(b.error(), make_error_code(errc::not_allowed));
    EXPECT_EQ(r.a_last, next::failed);
  }
  {
    auto a = handshake::initiate(cfg("a@host"), "b@host");
    auto b = handshake::accept(cfg("b@host"));
    const auto r = run(a, b, handshake_status::nok);
    EXPECT_EQ(a.error(), make_error_code(errc::already_connected));
    EXPECT_EQ(r.a_last, next::failed);
  }
}

TEST(Handshake, AnAliveStatusIsAnsweredTrueAndTheHandshakeGoesOn) {
  auto a = handshake::initiate(cfg("a@host"), "b@host");
  auto b = handshake::accept(cfg("b@host"));
  const auto r = run(a, b, handshake_status::alive);
  EXPECT_EQ(r.a_last, next::done) << a.detail();
  EXPECT_EQ(r.b_last, next::done) << b.detail();
}

TEST(Handshake, AnOldFormNameWithHandshake23IsCompletedByTheComplementMessage) {
  auto b = handshake::accept(cfg("b@host"));
  ASSERT_EQ(b.start(), next::send_then_read);
  const std::uint64_t f = flag::advertised(false);
  std::vector<std::uint8_t> name{'n', 0, 6};
  for (int s = 24; s >= 0; s -= 8) name.push_back(static_cast<std::uint8_t>(f >> s));
  for (char c : std::string("a@host")) name.push_back(static_cast<std::uint8_t>(c));
  ASSERT_EQ(b.feed(name), next::decide) << b.detail();
  ASSERT_EQ(b.decide(handshake_status::ok), next::send_then_read);
  auto out = b.take_output();
  ASSERT_EQ(out.size(), 2U);
  EXPECT_EQ(out[1][0], 'N');
  std::uint32_t challenge = 0;
  for (int i = 9; i < 13; ++i) challenge = (challenge << 8) | out[1][static_cast<std::size_t>(i)];
  std::vector<std::uint8_t> comp{'c'};
  for (int s = 24; s >= 0; s -= 8) comp.push_back(static_cast<std::uint8_t>((f >> 32) >> s));
  comp.insert(comp.end(), {0, 0, 0, 42});
  ASSERT_EQ(b.feed(comp), next::send_then_read) << b.detail();
  std::vector<std::uint8_t> reply{'r', 0, 0, 0, 1};
  const auto d = handshake_digest("secret", challenge);
  reply.insert(reply.end(), d.begin(), d.end());
  ASSERT_EQ(b.feed(reply), next::done) << b.detail();
  EXPECT_EQ(b.result().peer_creation, 42U);
  EXPECT_EQ(b.result().peer_flags & flag::alias, flag::alias);
}

TEST(Handshake, APeerWithoutTheOtp25CapabilitiesIsRefusedAsTooOld) {
  auto b = handshake::accept(cfg("b@host"));
  ASSERT_EQ(b.start(), next::send_then_read);
  std::vector<std::uint8_t> name{'N', 0, 0, 0, 0, 0, 0, 0, 0x04, 0, 0, 0, 1, 0, 6};
  for (char c : std::string("a@host")) name.push_back(static_cast<std::uint8_t>(c));
  EXPECT_EQ(b.feed(name), next::failed);
  EXPECT_EQ(b.error(), make_error_code(errc::peer_too_old));
  EXPECT_NE(b.detail().find("missing capability flags"), std::string::npos);
}

TEST(Handshake, MalformedPacketsFailWithoutReadingPastTheirEnd) {
  const std::vector<std::vector<std::uint8_t>> bad{
      {},
      {'N'},
      {'N', 0, 0, 0},
      {'x', 1, 2},
      {'N', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff},
      {'n', 0},
      {'n', 0, 6, 0x01, 0, 0, 0, 'a'}};
  for (const auto& p : bad) {
    auto b = handshake::accept(cfg("b@host"));
    ASSERT_EQ(b.start(), next::send_then_read);
    EXPECT_EQ(b.feed(p), next::failed);
    EXPECT_TRUE(b.error() == make_error_code(errc::handshake_malformed) ||
                b.error() == make_error_code(errc::peer_too_old))
        << b.error().message();
  }
  auto a = handshake::initiate(cfg("a@host"), "b@host");
  ASSERT_EQ(a.start(), next::send_then_read);
  (void)a.take_output();
  EXPECT_EQ(a.feed(std::vector<std::uint8_t>{'s', 'w', 'h', 'a', 't'}), next::failed);
  EXPECT_EQ(a.error(), make_error_code(errc::handshake_malformed));
}

}  // namespace
}  // namespace moat::dist::detail
