// Envelope: typed access without RTTI, per-type constants, and the two-step
// lifetime (destroy the payload, then free the node).
#include "shoal/envelope.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "tests/core/test_support.hpp"

namespace shoal {
namespace {

using test::Counted;

struct Plain {
  int value;
};
struct Other {
  int value;
};

TEST(Envelope, GetReturnsThePayloadOnlyForItsOwnType) {
  Envelope* e = make_envelope(Plain{7});
  ASSERT_NE(e->get<Plain>(), nullptr);
  EXPECT_EQ(e->get<Plain>()->value, 7);
  EXPECT_EQ(e->get<Other>(), nullptr) << "same layout, different type";
  EXPECT_TRUE(e->is<Plain>());
  EXPECT_FALSE(e->is<Other>());
  destroy_envelope(e);
}

TEST(Envelope, EachTypeHasOneMessageTypeWithAReadableName) {
  EXPECT_EQ(message_type_of<Plain>, message_type_of<Plain>);
  EXPECT_NE(message_type_of<Plain>, message_type_of<Other>);
  EXPECT_NE(message_type_of<Plain>->name.find("Plain"), std::string_view::npos)
      << message_type_of<Plain>->name;
  EXPECT_NE(message_type_of<Plain>->name, message_type_of<Other>->name);
  EXPECT_EQ(message_type_of<int>->name, "int");
}

TEST(Envelope, OnlyNonTrivialPayloadsHaveADestroyHook) {
  EXPECT_EQ(message_type_of<Plain>->destroy, nullptr);
  EXPECT_NE(message_type_of<Counted>->destroy, nullptr);
  EXPECT_NE(message_type_of<std::string>->destroy, nullptr);
}

TEST(Envelope, MakeEnvelopeDecaysTheMessageType) {
  const Plain p{3};
  Envelope* e = make_envelope(p);
  EXPECT_TRUE(e->is<Plain>());
  EXPECT_EQ(e->get<Plain>()->value, 3);
  EXPECT_EQ(e->next.load(), nullptr);
  destroy_envelope(e);
}

TEST(Envelope, EmplaceConstructsThePayloadInPlace) {
  Envelope* e = emplace_envelope<std::string>(5, 'x');
  ASSERT_TRUE(e->is<std::string>());
  EXPECT_EQ(*e->get<std::string>(), "xxxxx");
  destroy_envelope(e);  // ASan reports the string's buffer if this leaks
}

TEST(Envelope, DestroyPayloadRunsTheDestructorOnceAndKeepsTheNode) {
  int destroyed = 0;
  Envelope* e = make_envelope(Counted{&destroyed});
  EXPECT_EQ(destroyed, 0);
  e->destroy_payload();
  EXPECT_EQ(destroyed, 1);
  EXPECT_TRUE(e->is<Counted>()) << "the node stays readable until freed";
  free_node(e);
  EXPECT_EQ(destroyed, 1);
}

TEST(Envelope, DestroyEnvelopeDestroysThePayload) {
  int destroyed = 0;
  destroy_envelope(make_envelope(Counted{&destroyed}));
  EXPECT_EQ(destroyed, 1);
}

}  // namespace
}  // namespace shoal
