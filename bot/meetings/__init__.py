"""Meetings: /bel and the bells; planned events (bezoek, verzet, afzeggen); scheduled flows."""
