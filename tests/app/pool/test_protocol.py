"""The wire: 4-byte length-prefixed pickle frames, read in whatever pieces the pipe gives."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

import pytest

from app.pool.protocol import (
    HEADER,
    MAX_FRAME,
    OK,
    FrameReader,
    encode,
    encode_parts,
    out_of_band,
    read_messages,
    write_frame,
)
from app.tasks.results import Binary


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read_fd, write_fd = os.pipe()
    yield read_fd, write_fd
    for fd in (read_fd, write_fd):
        with contextlib.suppress(OSError):
            os.close(fd)


def test_frame_is_length_prefix_then_payload() -> None:
    frame = encode({"a": 1})
    size, buffers = HEADER.unpack_from(frame)
    assert size == len(frame) - HEADER.size and buffers == 0


def test_whole_frame_decodes_to_the_message() -> None:
    message = (OK, 7, {"result": [1, 2.5, "x"]})
    assert FrameReader().feed(encode(message)) == [message]


def test_frame_split_byte_by_byte_decodes_once_complete() -> None:
    frame = encode(("task", 42))
    reader = FrameReader()
    for index in range(len(frame) - 1):
        assert reader.feed(frame[index : index + 1]) == []
    assert reader.feed(frame[-1:]) == [("task", 42)]


def test_split_inside_the_header_is_reassembled() -> None:
    frame = encode("hello")
    reader = FrameReader()
    assert reader.feed(frame[:2]) == []
    assert reader.feed(frame[2:]) == ["hello"]


def test_several_frames_in_one_read_all_decode_in_order() -> None:
    data = b"".join(encode(i) for i in range(5))
    assert FrameReader().feed(data) == [0, 1, 2, 3, 4]


def test_trailing_partial_frame_is_kept_for_the_next_read() -> None:
    first, second = encode("first"), encode("second")
    reader = FrameReader()
    assert reader.feed(first + second[:3]) == ["first"]
    assert reader.feed(second[3:]) == ["second"]


def test_empty_read_yields_nothing() -> None:
    assert FrameReader().feed(b"") == []


def test_oversized_frame_header_is_rejected() -> None:
    with pytest.raises(ValueError, match="larger than"):
        FrameReader().feed(HEADER.pack(MAX_FRAME + 1, 0))


def test_write_frame_over_a_pipe_is_read_back(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    write_frame(write_fd, (OK, 1, "done"))
    write_frame(write_fd, (OK, 2, None))
    messages: list[object] = []
    reader = FrameReader()
    while len(messages) < 2:
        got = read_messages(read_fd, reader)
        assert got is not None
        messages.extend(got)
    assert messages == [(OK, 1, "done"), (OK, 2, None)]


def test_frame_larger_than_the_pipe_buffer_arrives_whole(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    payload = os.urandom(1 << 20)
    writer = threading.Thread(target=write_frame, args=(write_fd, payload))
    writer.start()
    messages = read_messages(read_fd, FrameReader())
    writer.join(timeout=10)
    assert not writer.is_alive()
    assert messages == [payload]


def test_read_messages_returns_none_at_end_of_file(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    os.close(write_fd)
    assert read_messages(read_fd, FrameReader()) is None


def test_bytes_params_travel_out_of_band_and_arrive_as_memoryviews() -> None:
    data = os.urandom(100_000)
    parts = encode_parts((1, "mirror", out_of_band({"body": data, "n": 3})))
    assert any(memoryview(p).obj is data for p in parts)  # sent as is, not copied
    ((_task_id, _name, params),) = FrameReader().feed(b"".join(parts))
    assert isinstance(params["body"], memoryview) and params["body"] == data
    assert params["n"] == 3


def test_small_bytes_param_is_a_memoryview_too() -> None:
    ((_, _, params),) = FrameReader().feed(encode((1, "t", out_of_band({"body": b"ab"}))))
    assert isinstance(params["body"], memoryview) and bytes(params["body"]) == b"ab"


def test_binary_result_survives_the_wire() -> None:
    data = os.urandom(200_000)
    frame = encode((OK, 9, Binary(data, "image/png"), 5))
    reader = FrameReader()
    assert reader.feed(frame[:1000]) == []
    ((_kind, _task_id, value, _),) = reader.feed(frame[1000:])
    assert isinstance(value, Binary) and value.content_type == "image/png"
    assert bytes(value.data) == data


def test_large_frame_is_read_into_one_buffer_from_the_pipe(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    data = os.urandom(3 << 20)  # larger than any pipe buffer
    writer = threading.Thread(target=write_frame, args=(write_fd, (OK, 1, Binary(data, "a/b"))))
    writer.start()
    messages = read_messages(read_fd, FrameReader())
    writer.join(timeout=10)
    assert messages is not None and bytes(messages[0][2].data) == data


def test_frames_after_a_large_frame_still_decode(pipe: tuple[int, int]) -> None:
    read_fd, write_fd = pipe
    big = (OK, 1, Binary(os.urandom(300_000), "a/b"))

    def send() -> None:
        write_frame(write_fd, big)
        write_frame(write_fd, (OK, 2, "small"))

    writer = threading.Thread(target=send)
    writer.start()
    reader = FrameReader()
    got: list[object] = []
    while len(got) < 2:
        messages = read_messages(read_fd, reader)
        assert messages is not None
        got.extend(messages)
    writer.join(timeout=10)
    assert got[1] == (OK, 2, "small")
