#include "shoal/type_registry.hpp"

#include <gtest/gtest.h>

#include <capnp/message.h>

#include <stdexcept>
#include <string>

#include "tests/wire/wire_kit.hpp"

namespace shoal::wire::test {
namespace {

TEST(TypeRegistry, FindsACodecByTypeByRequestTypeAndByName) {
  TypeRegistry types;
  register_test_types(types);
  EXPECT_EQ(types.size(), TypeRegistry::builtin_types + 4);
  const TypeCodec* ping = types.find<Ping>();
  ASSERT_NE(ping, nullptr);
  EXPECT_EQ(ping->name(), "test.Ping");
  EXPECT_EQ(ping->type(), message_type_of<Ping>);
  EXPECT_EQ(types.find(request_type_of<Ping>), ping);
  EXPECT_EQ(types.find("test.Ping"), ping);
  EXPECT_EQ(types.find<Unregistered>(), nullptr);
  EXPECT_EQ(types.find("test.Nope"), nullptr);
}

TEST(TypeRegistry, RefusesDuplicateNamesDuplicateTypesAndBadNames) {
  TypeRegistry types;
  register_test_types(types);
  auto enc = [](const Unregistered&, msg::Ping::Builder) {};
  auto dec = [](msg::Ping::Reader) { return Unregistered{}; };
  EXPECT_THROW((types.add<Unregistered, msg::Ping>("test.Ping", enc, dec)),
               std::invalid_argument);
  EXPECT_THROW((types.add<Unregistered, msg::Ping>("", enc, dec)), std::invalid_argument);
  EXPECT_THROW((types.add<Unregistered, msg::Ping>(std::string(max_name_bytes + 1, 'x'), enc,
                                                      dec)),
               std::invalid_argument);
  auto penc = [](const Ping&, msg::Ping::Builder) {};
  auto pdec = [](msg::Ping::Reader) { return Ping{}; };
  try {
    types.add<Ping, msg::Ping>("test.Ping2", penc, pdec);
    FAIL() << "a second name for Ping was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("test.Ping"), std::string::npos) << e.what();
  }
  EXPECT_EQ(types.size(), TypeRegistry::builtin_types + 4);
  types.add<Unregistered, msg::Ping>(std::string(max_name_bytes, 'x'), enc, dec);
  EXPECT_EQ(types.size(), TypeRegistry::builtin_types + 5);
}

TEST(TypeRegistry, CodecRoundTripsAPayloadAndMakesARequestWhenThereIsASender) {
  TypeRegistry types;
  register_test_types(types);
  const TypeCodec* note = types.find<Note>();
  ASSERT_NE(note, nullptr);
  Envelope* in = make_envelope(Note{"hello", {"a", "bc"}});
  capnp::MallocMessageBuilder message;
  message.getRoot<capnp::AnyPointer>().adopt(note->encode(*in, message.getOrphanage()));
  destroy_envelope(in);
  auto payload = message.getRoot<capnp::AnyPointer>().asReader();

  Envelope* plain = note->decode(payload, Pid(), 0);
  ASSERT_TRUE(plain->is<Note>());
  EXPECT_EQ(plain->get<Note>()->text, "hello");
  EXPECT_EQ(plain->get<Note>()->tags, (std::vector<std::string>{"a", "bc"}));
  EXPECT_EQ(plain->sender_header(), nullptr);
  destroy_envelope(plain);

  Envelope* request = note->decode(payload, stub_pid(42), 9);
  ASSERT_TRUE(request->is<Note>());
  ASSERT_NE(request->sender_header(), nullptr);
  EXPECT_EQ(request->sender_header()->sender.id(), 42u);
  EXPECT_EQ(request->sender_header()->request_id, 9u);
  destroy_envelope(request);
}

}  // namespace
}  // namespace shoal::wire::test
