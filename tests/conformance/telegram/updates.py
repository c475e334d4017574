"""One update of every kind the Bot API defines (`telegram.Update.ALL_TYPES`), plus the
message variants a team's group produces, each built with python-telegram-bot's own
classes and turned into the Bot API's JSON with `to_dict()`: shapes nobody on this project
wrote. `expected` says what Samen does with each: the inbox kinds it stores and the Bot API
methods it calls (none for most: Samen reads commands, replies to its forms, button
presses and membership, nothing else)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import telegram as tg

from tests.harness.fake_telegram import BOT
from tests.harness.telegram import GROUP, PEOPLE

WHEN = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
ANNA = tg.User(PEOPLE["anna"], "Anna", is_bot=False, language_code="nl")
BRAM = tg.User(PEOPLE["bram"], "Bram", is_bot=False)
SAMEN = tg.User(BOT["id"], BOT["first_name"], is_bot=True, username=BOT["username"])
OTHER_BOT = tg.User(999, "Helper", is_bot=True, username="HelperBot")
TEAM = tg.Chat(GROUP, tg.Chat.SUPERGROUP, title="Wijkteam Noord", is_forum=True)
PRIVATE = tg.Chat(PEOPLE["anna"], tg.Chat.PRIVATE, first_name="Anna")
CHANNEL = tg.Chat(-1009876543210, tg.Chat.CHANNEL, title="Nieuws")
TOPIC = 77


@dataclass(frozen=True)
class Case:
    """One update: what to build, and what Samen should do with it."""

    build: Callable[[int], tg.Update]
    stores: tuple[str, ...] = ()  # inbox kinds, in order
    calls: tuple[str, ...] = ()  # Bot API methods Samen calls for it (besides polling)
    notes: dict[str, Any] = field(default_factory=dict)


def message(
    message_id: int = 10, chat: tg.Chat = TEAM, user: tg.User | None = ANNA, **fields: Any
) -> tg.Message:
    return tg.Message(message_id, WHEN, chat, from_user=user, **fields)


def command(text: str, **fields: Any) -> tg.Message:
    entity = tg.MessageEntity(tg.MessageEntity.BOT_COMMAND, 0, len(text.split()[0]))
    return message(text=text, entities=(entity,), **fields)


def member(status: str, user: tg.User) -> tg.ChatMember:
    if status == "left":
        return tg.ChatMemberLeft(user)
    return tg.ChatMemberMember(user)


def membership(chat: tg.Chat, user: tg.User, before: str, after: str) -> tg.ChatMemberUpdated:
    return tg.ChatMemberUpdated(chat, ANNA, WHEN, member(before, user), member(after, user))


def press(data: str, msg: tg.MaybeInaccessibleMessage) -> tg.CallbackQuery:
    return tg.CallbackQuery("4382bfdwdsb323b2d9", ANNA, "-5120", message=msg, data=data)


INACCESSIBLE = tg.InaccessibleMessage(TEAM, 55)  # older than 48 hours: date 0
PHOTO = (tg.PhotoSize("AgAD", "AQAD", 90, 60),)

# Every Update field, one update each.
KINDS: dict[str, Case] = {
    "message": Case(lambda n: tg.Update(n, message=message(text="Goedemorgen allemaal"))),
    "edited_message": Case(
        lambda n: tg.Update(n, edited_message=message(text="/samen help", edit_date=WHEN))
    ),
    "channel_post": Case(
        lambda n: tg.Update(n, channel_post=message(chat=CHANNEL, user=None, text="Nieuws"))
    ),
    "edited_channel_post": Case(
        lambda n: tg.Update(
            n, edited_channel_post=message(chat=CHANNEL, user=None, text="x", edit_date=WHEN)
        )
    ),
    "inline_query": Case(
        lambda n: tg.Update(n, inline_query=tg.InlineQuery("1", ANNA, "samen", ""))
    ),
    "chosen_inline_result": Case(
        lambda n: tg.Update(n, chosen_inline_result=tg.ChosenInlineResult("r1", ANNA, "samen"))
    ),
    "callback_query": Case(
        lambda n: tg.Update(
            n, callback_query=press("k|unknown", message(message_id=56, user=SAMEN, text="Vraag"))
        ),
        calls=("answerCallbackQuery",),
    ),
    "shipping_query": Case(
        lambda n: tg.Update(
            n,
            shipping_query=tg.ShippingQuery(
                "s1", ANNA, "p", tg.ShippingAddress("NL", "", "Utrecht", "Straat 1", "", "3511AA")
            ),
        )
    ),
    "pre_checkout_query": Case(
        lambda n: tg.Update(n, pre_checkout_query=tg.PreCheckoutQuery("c1", ANNA, "EUR", 100, "p"))
    ),
    "poll": Case(
        lambda n: tg.Update(
            n,
            poll=tg.Poll(
                "p1",
                "Koffie?",
                (
                    tg.PollOption("ja", 1, persistent_id="o1"),
                    tg.PollOption("nee", 0, persistent_id="o2"),
                ),
                1,
                False,
                True,
                tg.Poll.REGULAR,
                False,
                allows_revoting=False,
                members_only=False,
            ),
        )
    ),
    "poll_answer": Case(
        lambda n: tg.Update(
            n, poll_answer=tg.PollAnswer("p1", (0,), user=ANNA, option_persistent_ids=("o1",))
        )
    ),
    "my_chat_member": Case(
        lambda n: tg.Update(n, my_chat_member=membership(TEAM, SAMEN, "left", "member")),
        stores=("bot_added",),
        calls=("getChatAdministrators", "sendMessage", "sendMessage"),
        notes={
            "why": "added to a group: the team exists, its administrators become its first"
            " coordinators (said once), and Samen says hello there"
        },
    ),
    "chat_member": Case(
        lambda n: tg.Update(n, chat_member=membership(TEAM, BRAM, "left", "member")),
        stores=("joined",),
        notes={"why": "a person joined the group (where Samen is an administrator)"},
    ),
    "chat_join_request": Case(
        lambda n: tg.Update(n, chat_join_request=tg.ChatJoinRequest(TEAM, BRAM, WHEN, BRAM.id))
    ),
    "chat_boost": Case(
        lambda n: tg.Update(
            n,
            chat_boost=tg.ChatBoostUpdated(
                TEAM, tg.ChatBoost("b1", WHEN, WHEN, tg.ChatBoostSourcePremium(ANNA))
            ),
        )
    ),
    "removed_chat_boost": Case(
        lambda n: tg.Update(
            n,
            removed_chat_boost=tg.ChatBoostRemoved(
                TEAM, "b1", WHEN, tg.ChatBoostSourcePremium(ANNA)
            ),
        )
    ),
    "message_reaction": Case(
        lambda n: tg.Update(
            n,
            message_reaction=tg.MessageReactionUpdated(
                TEAM, 10, WHEN, (), (tg.ReactionTypeEmoji("👍"),), user=ANNA
            ),
        )
    ),
    "message_reaction_count": Case(
        lambda n: tg.Update(
            n,
            message_reaction_count=tg.MessageReactionCountUpdated(
                TEAM, 10, WHEN, (tg.ReactionCount(tg.ReactionTypeEmoji("👍"), 3),)
            ),
        )
    ),
    "business_connection": Case(
        lambda n: tg.Update(
            n, business_connection=tg.BusinessConnection("bc1", ANNA, ANNA.id, WHEN, True)
        )
    ),
    "business_message": Case(
        lambda n: tg.Update(
            n,
            business_message=message(
                chat=PRIVATE, text="/samen help", business_connection_id="bc1"
            ),
        )
    ),
    "edited_business_message": Case(
        lambda n: tg.Update(
            n,
            edited_business_message=message(
                chat=PRIVATE, text="x", business_connection_id="bc1", edit_date=WHEN
            ),
        )
    ),
    "deleted_business_messages": Case(
        lambda n: tg.Update(
            n, deleted_business_messages=tg.BusinessMessagesDeleted("bc1", PRIVATE, (1, 2))
        )
    ),
    "purchased_paid_media": Case(
        lambda n: tg.Update(n, purchased_paid_media=tg.PaidMediaPurchased(ANNA, "payload"))
    ),
    "managed_bot": Case(lambda n: tg.Update(n, managed_bot=tg.ManagedBotUpdated(ANNA, OTHER_BOT))),
    "guest_message": Case(
        lambda n: tg.Update(n, guest_message=message(chat=PRIVATE, text="/samen help"))
    ),
}

# Messages of the kinds a team's group and private chats produce.
MESSAGES: dict[str, Case] = {
    "command": Case(
        lambda n: tg.Update(n, message=command("/samen help")),
        stores=("command",),
        calls=("sendMessage",),
        notes={"why": "help is answered in the group (the person has no private chat yet)"},
    ),
    "command_for_another_bot": Case(
        lambda n: tg.Update(n, message=command("/samen@HelperBot help"))
    ),
    "command_by_a_bot": Case(
        lambda n: tg.Update(n, message=command("/samen help", user=OTHER_BOT))
    ),
    "command_in_a_channel": Case(
        lambda n: tg.Update(n, channel_post=command("/samen help", chat=CHANNEL, user=None))
    ),
    "photo_with_caption": Case(
        lambda n: tg.Update(n, message=message(photo=PHOTO, caption="/samen"))
    ),
    "sticker": Case(
        lambda n: tg.Update(
            n,
            message=message(
                sticker=tg.Sticker("CAAD", "AgAD", 512, 512, False, False, tg.Sticker.REGULAR)
            ),
        )
    ),
    "new_chat_members": Case(
        lambda n: tg.Update(n, message=message(new_chat_members=(BRAM,), user=BRAM)),
        stores=("joined",),
    ),
    "left_chat_member": Case(
        lambda n: tg.Update(n, message=message(left_chat_member=BRAM, user=BRAM)),
        stores=("left",),
    ),
    "forum_topic_created": Case(
        lambda n: tg.Update(
            n,
            message=message(
                forum_topic_created=tg.ForumTopicCreated("Casus", 7322096),
                message_thread_id=TOPIC,
                is_topic_message=True,
            ),
        )
    ),
    "pinned_message": Case(
        lambda n: tg.Update(
            n, message=message(pinned_message=message(message_id=3, user=SAMEN, text="Status"))
        )
    ),
    "private_hello": Case(lambda n: tg.Update(n, message=message(chat=PRIVATE, text="Hallo"))),
    "reply_to_a_foreign_message": Case(
        lambda n: tg.Update(
            n,
            message=message(
                text="Eens", reply_to_message=message(message_id=9, user=BRAM, text="Zullen we?")
            ),
        )
    ),
    "press_on_an_inaccessible_message": Case(
        lambda n: tg.Update(n, callback_query=press("k|old", INACCESSIBLE)),
        calls=("answerCallbackQuery",),
    ),
    "press_without_data": Case(
        lambda n: tg.Update(
            n,
            callback_query=tg.CallbackQuery(
                "4382bfdwdsb323b2d8",
                ANNA,
                "-5120",
                message=message(user=SAMEN, text="x"),
                game_short_name="g",
            ),
        ),
        calls=("answerCallbackQuery",),
    ),
}

CASES: dict[str, Case] = {**KINDS, **{f"message:{k}": v for k, v in MESSAGES.items()}}
