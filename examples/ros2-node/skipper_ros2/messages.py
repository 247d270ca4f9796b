"""The four skipper_msgs types as DDS structures, field for field as rosidl generates them.

The wire form is plain CDR (XCDR1, what ROS 2 uses): keep the field order and types in step with
``skipper_msgs/msg/*.msg`` and with the independent peer in ``test/fastdds_peer.cpp``.
"""

# (no "from __future__ import annotations": Cyclone resolves these hints at run time)

import uuid
from dataclasses import dataclass

import cyclonedds.idl.types as t
from cyclonedds.idl import IdlStruct

# action_msgs/GoalStatus values
STATUS_ACCEPTED = 1
STATUS_EXECUTING = 2
STATUS_SUCCEEDED = 4
STATUS_CANCELED = 5
STATUS_ABORTED = 6


@dataclass
class GenerateGoal(IdlStruct, typename="skipper_msgs::msg::dds_::GenerateGoal_"):
    goal_id: t.array[t.uint8, 16]
    prompt: str
    system_prompt: str
    chat: bool
    max_tokens: t.int32
    temperature: t.float32
    seed: t.uint64
    json_schema: str


@dataclass
class GenerateFeedback(IdlStruct, typename="skipper_msgs::msg::dds_::GenerateFeedback_"):
    goal_id: t.array[t.uint8, 16]
    status: t.int8
    text: str
    tokens: t.uint32


@dataclass
class GenerateResult(IdlStruct, typename="skipper_msgs::msg::dds_::GenerateResult_"):
    goal_id: t.array[t.uint8, 16]
    status: t.int8
    text: str
    finish_reason: str
    prompt_tokens: t.uint32
    completion_tokens: t.uint32
    tokens_per_second: t.float32
    error: str


@dataclass
class GenerateCancel(IdlStruct, typename="skipper_msgs::msg::dds_::GenerateCancel_"):
    goal_id: t.array[t.uint8, 16]


def goal_key(goal_id: "list[int] | bytes") -> str:
    """A goal id as the UUID text the logs and the result bookkeeping use."""
    return str(uuid.UUID(bytes=bytes(goal_id)))
