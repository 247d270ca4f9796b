"""A ROS 2 node for Skipper that speaks DDS directly (Cyclone DDS's Python binding).

ROS 2 nodes meet at the DDS level: a ROS topic ``/skipper/generate/goal`` is the DDS topic
``rt/skipper/generate/goal`` and the message ``skipper_msgs/msg/GenerateGoal`` is the DDS type
``skipper_msgs::msg::dds_::GenerateGoal_`` in plain CDR, so rclcpp and rclpy nodes on any RMW
(rmw_cyclonedds_cpp, rmw_fastrtps_cpp) reach this node once they have built ``skipper_msgs``.
"""

__version__ = "0.1.0"
