// An independent DDS peer for the Skipper node's round trip: eProsima Fast DDS (the default RMW of
// ROS 2 Humble and Jazzy), sharing no code with the node (Cyclone DDS). Its type support is written
// here by hand from skipper_msgs/msg/*.msg in plain CDR, as rosidl would generate it, so the test
// also checks that the node's wire format is what a ROS 2 peer expects.
//
//   fastdds_peer DOMAIN ACTION_NAME PROMPT MAX_TOKENS LONG_MAX_TOKENS
//
// Goals: (a) PROMPT, greedy, MAX_TOKENS; (b) PROMPT with LONG_MAX_TOKENS, cancelled at its first
// streamed text; (c) a goal with a malformed json_schema. Prints one JSON line per goal on stdout;
// exits 1 when the node is not found or a result does not come within its time.
#include <fastcdr/Cdr.h>
#include <fastcdr/FastBuffer.h>
#include <fastdds/dds/domain/DomainParticipant.hpp>
#include <fastdds/dds/domain/DomainParticipantFactory.hpp>
#include <fastdds/dds/publisher/DataWriter.hpp>
#include <fastdds/dds/publisher/Publisher.hpp>
#include <fastdds/dds/subscriber/DataReader.hpp>
#include <fastdds/dds/subscriber/DataReaderListener.hpp>
#include <fastdds/dds/subscriber/SampleInfo.hpp>
#include <fastdds/dds/subscriber/Subscriber.hpp>
#include <fastdds/dds/topic/TopicDataType.hpp>
#include <fastdds/dds/topic/TypeSupport.hpp>
#include <fastdds/rtps/transport/UDPv4TransportDescriptor.h>
#include <fastrtps/utils/IPLocator.h>

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace eprosima::fastdds::dds;
using eprosima::fastcdr::Cdr;
using eprosima::fastcdr::FastBuffer;
using eprosima::fastrtps::rtps::InstanceHandle_t;
using eprosima::fastrtps::rtps::SerializedPayload_t;
using eprosima::fastrtps::types::ReturnCode_t;

using GoalId = std::array<uint8_t, 16>;

// ---- the four messages, field for field as in skipper_msgs/msg ----

struct Goal {
    GoalId goal_id{};
    std::string prompt, system_prompt;
    bool chat = false;
    int32_t max_tokens = 0;
    float temperature = 0;
    uint64_t seed = 0;
    std::string json_schema;
    static constexpr const char* kName = "skipper_msgs::msg::dds_::GenerateGoal_";
    void write(Cdr& c) const {
        c.serializeArray(goal_id.data(), goal_id.size());
        c << prompt << system_prompt << chat << max_tokens << temperature << seed << json_schema;
    }
    void read(Cdr& c) {
        c.deserializeArray(goal_id.data(), goal_id.size());
        c >> prompt >> system_prompt >> chat >> max_tokens >> temperature >> seed >> json_schema;
    }
    size_t bound() const { return 16 + 3 * 8 + prompt.size() + system_prompt.size() + json_schema.size() + 64; }
};

struct Feedback {
    GoalId goal_id{};
    int8_t status = 0;
    std::string text;
    uint32_t tokens = 0;
    static constexpr const char* kName = "skipper_msgs::msg::dds_::GenerateFeedback_";
    void write(Cdr& c) const {
        c.serializeArray(goal_id.data(), goal_id.size());
        c << status << text << tokens;
    }
    void read(Cdr& c) {
        c.deserializeArray(goal_id.data(), goal_id.size());
        c >> status >> text >> tokens;
    }
    size_t bound() const { return 16 + text.size() + 32; }
};

struct Result {
    GoalId goal_id{};
    int8_t status = 0;
    std::string text, finish_reason;
    uint32_t prompt_tokens = 0, completion_tokens = 0;
    float tokens_per_second = 0;
    std::string error;
    static constexpr const char* kName = "skipper_msgs::msg::dds_::GenerateResult_";
    void write(Cdr& c) const {
        c.serializeArray(goal_id.data(), goal_id.size());
        c << status << text << finish_reason << prompt_tokens << completion_tokens << tokens_per_second << error;
    }
    void read(Cdr& c) {
        c.deserializeArray(goal_id.data(), goal_id.size());
        c >> status >> text >> finish_reason >> prompt_tokens >> completion_tokens >> tokens_per_second >> error;
    }
    size_t bound() const { return 16 + text.size() + finish_reason.size() + error.size() + 64; }
};

struct Cancel {
    GoalId goal_id{};
    static constexpr const char* kName = "skipper_msgs::msg::dds_::GenerateCancel_";
    void write(Cdr& c) const { c.serializeArray(goal_id.data(), goal_id.size()); }
    void read(Cdr& c) { c.deserializeArray(goal_id.data(), goal_id.size()); }
    size_t bound() const { return 16 + 8; }
};

// Plain-CDR type support for a keyless struct T (encapsulation header, then T's fields).
template <typename T>
class StructType : public TopicDataType {
public:
    StructType() {
        setName(T::kName);
        m_typeSize = 4 + (1u << 16);  // a first guess; payloads grow as needed (the default memory policy reallocates)
        m_isGetKeyDefined = false;
    }
    bool serialize(void* data, SerializedPayload_t* payload) override {
        FastBuffer buf(reinterpret_cast<char*>(payload->data), payload->max_size);
        Cdr c(buf, Cdr::DEFAULT_ENDIAN, Cdr::DDS_CDR);
        payload->encapsulation = c.endianness() == Cdr::BIG_ENDIANNESS ? CDR_BE : CDR_LE;
        try {
            c.serialize_encapsulation();
            static_cast<T*>(data)->write(c);
        } catch (eprosima::fastcdr::exception::Exception&) {
            return false;
        }
        payload->length = static_cast<uint32_t>(c.getSerializedDataLength());
        return true;
    }
    bool deserialize(SerializedPayload_t* payload, void* data) override {
        FastBuffer buf(reinterpret_cast<char*>(payload->data), payload->length);
        Cdr c(buf, Cdr::DEFAULT_ENDIAN, Cdr::DDS_CDR);
        try {
            c.read_encapsulation();
            payload->encapsulation = c.endianness() == Cdr::BIG_ENDIANNESS ? CDR_BE : CDR_LE;
            static_cast<T*>(data)->read(c);
        } catch (eprosima::fastcdr::exception::Exception&) {
            return false;
        }
        return true;
    }
    std::function<uint32_t()> getSerializedSizeProvider(void* data) override {
        return [data]() { return static_cast<uint32_t>(4 + static_cast<T*>(data)->bound()); };
    }
    void* createData() override { return new T(); }
    void deleteData(void* data) override { delete static_cast<T*>(data); }
    bool getKey(void*, InstanceHandle_t*, bool) override { return false; }
};

// Collects the samples of one topic; waiters block until a predicate holds or time runs out.
template <typename T>
class Inbox : public DataReaderListener {
public:
    void on_data_available(DataReader* reader) override {
        T sample;
        SampleInfo info;
        while (reader->take_next_sample(&sample, &info) == ReturnCode_t::RETCODE_OK) {
            if (info.valid_data) {
                std::lock_guard<std::mutex> g(mu_);
                items_.push_back(sample);
                cv_.notify_all();
            }
        }
    }
    bool wait_for(const std::function<bool(const std::vector<T>&)>& done, std::chrono::seconds limit) {
        std::unique_lock<std::mutex> g(mu_);
        return cv_.wait_for(g, limit, [&] { return done(items_); });
    }
    std::vector<T> snapshot() {
        std::lock_guard<std::mutex> g(mu_);
        return items_;
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<T> items_;
};

static std::string json(const std::string& s) {
    std::string o = "\"";
    for (unsigned char ch : s) {
        if (ch == '"' || ch == '\\') {
            o += '\\';
            o += static_cast<char>(ch);
        } else if (ch < 0x20) {
            char b[8];
            std::snprintf(b, sizeof b, "\\u%04x", ch);
            o += b;
        } else {
            o += static_cast<char>(ch);
        }
    }
    return o + "\"";
}

static GoalId new_goal_id(std::mt19937_64& rng) {
    GoalId id;
    for (auto& b : id) b = static_cast<uint8_t>(rng());
    return id;
}

int main(int argc, char** argv) {
    if (argc != 6) {
        std::fprintf(stderr, "usage: fastdds_peer DOMAIN ACTION_NAME PROMPT MAX_TOKENS LONG_MAX_TOKENS\n");
        return 2;
    }
    const int domain = std::atoi(argv[1]);
    const std::string action = argv[2], prompt = argv[3];
    const int max_tokens = std::atoi(argv[4]), long_max_tokens = std::atoi(argv[5]);

    // UDP on loopback only, discovery by unicast to 127.0.0.1 (no multicast, no shared memory)
    DomainParticipantQos pq;
    pq.name("skipper_fastdds_peer");
    pq.transport().use_builtin_transports = false;
    auto udp = std::make_shared<eprosima::fastdds::rtps::UDPv4TransportDescriptor>();
    udp->interfaceWhiteList.push_back("127.0.0.1");
    pq.transport().user_transports.push_back(udp);
    eprosima::fastrtps::rtps::Locator_t peer;
    eprosima::fastrtps::rtps::IPLocator::setIPv4(peer, 127, 0, 0, 1);
    pq.wire_protocol().builtin.initialPeersList.push_back(peer);
    pq.wire_protocol().builtin.avoid_builtin_multicast = true;
    DomainParticipant* p = DomainParticipantFactory::get_instance()->create_participant(domain, pq);
    if (p == nullptr) {
        std::fprintf(stderr, "fastdds_peer: cannot create a participant\n");
        return 1;
    }
    TypeSupport goal_t(new StructType<Goal>()), fb_t(new StructType<Feedback>()), res_t(new StructType<Result>()),
        cancel_t(new StructType<Cancel>());
    for (TypeSupport* t : {&goal_t, &fb_t, &res_t, &cancel_t}) t->register_type(p);
    auto topic = [&](const char* leaf, TypeSupport& t) {
        return p->create_topic("rt" + action + "/" + leaf, t.get_type_name(), TOPIC_QOS_DEFAULT);
    };
    Topic *goal_topic = topic("goal", goal_t), *fb_topic = topic("feedback", fb_t),
          *res_topic = topic("result", res_t), *cancel_topic = topic("cancel", cancel_t);
    Publisher* pub = p->create_publisher(PUBLISHER_QOS_DEFAULT);
    Subscriber* sub = p->create_subscriber(SUBSCRIBER_QOS_DEFAULT);
    DataWriterQos wq = DATAWRITER_QOS_DEFAULT;
    wq.reliability().kind = RELIABLE_RELIABILITY_QOS;
    wq.history().kind = KEEP_LAST_HISTORY_QOS;
    wq.history().depth = 10;
    DataReaderQos rq = DATAREADER_QOS_DEFAULT;
    rq.reliability().kind = RELIABLE_RELIABILITY_QOS;
    rq.history().kind = KEEP_LAST_HISTORY_QOS;
    rq.history().depth = 100;
    Inbox<Feedback> feedback;
    Inbox<Result> results;
    DataWriter* goal_w = pub->create_datawriter(goal_topic, wq);
    DataWriter* cancel_w = pub->create_datawriter(cancel_topic, wq);
    DataReader* fb_r = sub->create_datareader(fb_topic, rq, &feedback);
    DataReader* res_r = sub->create_datareader(res_topic, rq, &results);
    if (!goal_w || !cancel_w || !fb_r || !res_r) {
        std::fprintf(stderr, "fastdds_peer: cannot create the readers and writers\n");
        return 1;
    }

    // discovery: every endpoint matched with the node's
    auto t0 = std::chrono::steady_clock::now();
    for (;;) {
        PublicationMatchedStatus g, c;
        SubscriptionMatchedStatus f, r;
        goal_w->get_publication_matched_status(g);
        cancel_w->get_publication_matched_status(c);
        fb_r->get_subscription_matched_status(f);
        res_r->get_subscription_matched_status(r);
        if (g.current_count > 0 && c.current_count > 0 && f.current_count > 0 && r.current_count > 0) break;
        if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(30)) {
            std::fprintf(stderr, "fastdds_peer: the node was not discovered within 30 s (goal %d cancel %d feedback %d "
                         "result %d)\n", g.current_count, c.current_count, f.current_count, r.current_count);
            return 1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::fprintf(stderr, "fastdds_peer: matched the node after %lld ms\n",
                 static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - t0).count()));

    std::mt19937_64 rng(std::random_device{}());
    auto result_of = [&](const GoalId& id) {
        return [id](const std::vector<Result>& v) {
            for (auto& r : v) if (r.goal_id == id) return true;
            return false;
        };
    };
    auto report = [&](const char* name, const GoalId& id, bool cancel_sent) {
        // feedback and result are separate topics: let the last feedback land before comparing
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        Result res;
        for (auto& r : results.snapshot()) if (r.goal_id == id) res = r;
        std::string streamed;
        bool accepted = false;
        uint32_t last_tokens = 0;
        int pieces = 0;
        for (auto& f : feedback.snapshot()) {
            if (f.goal_id != id) continue;
            if (f.status == 1) accepted = true;
            if (f.status == 2) {
                streamed += f.text;
                last_tokens = f.tokens;
                ++pieces;
            }
        }
        std::printf("{\"goal\": %s, \"status\": %d, \"text\": %s, \"streamed\": %s, \"accepted\": %s, \"pieces\": %d, "
                    "\"last_feedback_tokens\": %u, \"finish_reason\": %s, \"prompt_tokens\": %u, "
                    "\"completion_tokens\": %u, \"tokens_per_second\": %.3f, \"error\": %s, \"cancel_sent\": %s}\n",
                    json(name).c_str(), res.status, json(res.text).c_str(), json(streamed).c_str(),
                    accepted ? "true" : "false", pieces, last_tokens, json(res.finish_reason).c_str(),
                    res.prompt_tokens, res.completion_tokens, res.tokens_per_second, json(res.error).c_str(),
                    cancel_sent ? "true" : "false");
        std::fflush(stdout);
    };

    // (a) a greedy answer, streamed
    Goal a;
    a.goal_id = new_goal_id(rng);
    a.prompt = prompt;
    a.max_tokens = max_tokens;
    a.temperature = 0;
    goal_w->write(&a);
    if (!results.wait_for(result_of(a.goal_id), std::chrono::seconds(120))) {
        std::fprintf(stderr, "fastdds_peer: no result for goal a within 120 s\n");
        return 1;
    }
    report("a", a.goal_id, false);

    // (b) a long answer, cancelled at its first streamed text
    Goal b = a;
    b.goal_id = new_goal_id(rng);
    b.max_tokens = long_max_tokens;
    goal_w->write(&b);
    GoalId bid = b.goal_id;
    bool streaming = feedback.wait_for([bid](const std::vector<Feedback>& v) {
        for (auto& f : v) if (f.goal_id == bid && (f.status == 2)) return true;
        return false;
    }, std::chrono::seconds(60));
    Cancel c;
    c.goal_id = b.goal_id;
    cancel_w->write(&c);
    if (!results.wait_for(result_of(b.goal_id), std::chrono::seconds(120))) {
        std::fprintf(stderr, "fastdds_peer: no result for goal b within 120 s (streaming seen: %d)\n", streaming);
        return 1;
    }
    report("b", b.goal_id, true);

    // (c) a malformed schema: the node refuses the goal
    Goal bad = a;
    bad.goal_id = new_goal_id(rng);
    bad.json_schema = "{\"type\": ";
    goal_w->write(&bad);
    if (!results.wait_for(result_of(bad.goal_id), std::chrono::seconds(30))) {
        std::fprintf(stderr, "fastdds_peer: no result for goal c within 30 s\n");
        return 1;
    }
    report("c", bad.goal_id, false);

    p->delete_contained_entities();
    DomainParticipantFactory::get_instance()->delete_participant(p);
    return 0;
}
