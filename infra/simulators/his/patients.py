"""The HIS simulator's patients: archives (建档, one per ID number, with the card issued) and
the cards bound to a WeChat user (ARCHIVE_QUERY, CARD_BIND, CARD_UNBIND). A mixin of
HisSimulator: state is behind its `_lock`."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infra.simulators.his.common import Refusal, iso_z, need


class PatientDesk:
    _lock: Any

    now: Callable[[], float]   # the simulator's movable clock

    def _init_patients(self) -> None:
        self.archives: dict[str, dict] = {}   # by patient_id
        self.bindings: dict[tuple[str, str, str, str], dict] = {}  # (patient_id, card_no, channel, user)
        self._archive_serial = 0

    # -- test controls ---------------------------------------------------------------------------
    def add_archive(self, name: str, id_no: str, phone: str, patient_id: str | None = None,
                    card_no: str | None = None) -> dict:
        """A patient on file; ids are made up (P0000001, card 9000000001) unless given."""
        with self._lock:
            if _id_key(id_no) in {_id_key(archive["id_no"]) for archive in self.archives.values()}:
                raise ValueError("an archive with this ID number exists")
            self._archive_serial += 1
            archive = {"patient_id": patient_id or f"P{self._archive_serial:07d}",
                       "card_no": card_no or str(9_000_000_000 + self._archive_serial),
                       "name": name, "id_no": id_no, "phone": phone}
            if archive["patient_id"] in self.archives:
                raise ValueError(f"patient {archive['patient_id']} exists")
            self.archives[archive["patient_id"]] = archive
            return dict(archive)

    def binding_list(self) -> list[dict]:
        with self._lock:
            return [dict(binding) for binding in self.bindings.values()]

    # -- trades ------------------------------------------------------------------------------------
    def _archive_query(self, data: dict) -> dict:
        name, id_no, phone = need(data, "name"), need(data, "id_no"), need(data, "phone")
        found = next((a for a in self.archives.values() if _id_key(a["id_no"]) == _id_key(id_no)), None)
        if found is None:
            raise Refusal("E_NO_ARCHIVE", "no archive for this ID number")
        if found["name"] != name or found["phone"] != phone:
            raise Refusal("E_ARCHIVE_MISMATCH", "name or phone differ from the archive")
        return dict(found)

    def _card_bind(self, data: dict) -> dict:
        key = self._binding_key(data)
        self.bindings.setdefault(key, {"patient_id": key[0], "card_no": key[1], "channel": key[2],
                                       "channel_user": key[3], "bound_at": iso_z(self.now())})
        return {"patient_id": key[0], "card_no": key[1]}

    def _card_unbind(self, data: dict) -> dict:
        key = self._binding_key(data)
        self.bindings.pop(key, None)
        return {"patient_id": key[0], "card_no": key[1]}

    def _binding_key(self, data: dict) -> tuple[str, str, str, str]:
        key = (need(data, "patient_id"), need(data, "card_no"), need(data, "channel"), need(data, "channel_user"))
        archive = self.archives.get(key[0])
        if archive is None or archive["card_no"] != key[1]:
            raise Refusal("E_NO_ARCHIVE", "no archive with this patient id and card")
        return key


def _id_key(id_no: str) -> str:
    """ID numbers compare without case (the check character X) or spaces around."""
    return id_no.strip().upper()
