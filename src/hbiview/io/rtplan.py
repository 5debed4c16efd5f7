"""DICOM RT Plan: write an hbiview plan (its beams, prescription and fraction group) beside its CT and dose.

What the file holds, for each beam: name, photon energy, gantry and collimator angles, the jaws (ASYMX,
ASYMY at the isocentre plane: X1, X2 and Y1, Y2 as set, asymmetric or not), the shielding blocks with their
transmission, the isocentre (LPS mm), the source-skin distance for SSD set-ups, and the relative weight
(BeamDescription); the prescription point and dose (DoseReferenceSequence, COORDINATES) and the fraction
group (fractions, each beam's dose at the prescription point per fraction, BeamDose).

What it leaves out, on purpose: the monitor units (BeamMeterset). hbiview's convolution model is not
commissioned on a treatment machine (no output factors, no calibration of a particular linac), so any
number of MU it gave would look like an instruction a machine could follow and would be wrong. The
RTPlanDescription says so in the file. No treatment machine is named (TreatmentMachineName is empty) and
no tolerance table is given.

pydicom is imported inside :func:`write_rtplan`.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hbiview.errors import InputError, PlanError
from hbiview.io.atomic import atomic_path, check_writable
from hbiview.io.dicom import _ds
from hbiview.io.dicom_modules import ct_identity, derived_uid, new_dataset, set_common_modules
from hbiview.plans import SAD_MM, Beam, Plan
from hbiview.volume import CTVolume

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["MU_NOTE", "RT_PLAN_STORAGE", "write_rtplan"]

RT_PLAN_STORAGE = "1.2.840.10008.5.1.4.1.1.481.5"
RT_STRUCTURE_SET_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"

#: Written in RTPlanDescription: why the file has no monitor units.
MU_NOTE = (
    "No monitor units (BeamMeterset): hbiview's convolution dose model is not commissioned on a treatment "
    "machine, so it cannot honestly give them. Relative beam weights are in BeamDescription; BeamDose is "
    "each beam's model dose per fraction at the prescription point (DoseReferencePointCoordinates). "
    "For comparison and teaching, not for treatment."
)

#: Nominal energy (MeV, as written in NominalBeamEnergy) of each hbiview beam quality.
_NOMINAL_MEV = {"Co60": 1.25, "6MV": 6.0, "10MV": 10.0, "15MV": 15.0, "18MV": 18.0}


def _item(**values: object) -> Dataset:
    from pydicom.dataset import Dataset

    ds = Dataset()
    for key, value in values.items():
        setattr(ds, key, value)
    return ds


def _jaws(beam: Beam) -> list[Dataset]:
    """The jaw positions (mm at the isocentre plane): X1, X2 and Y1, Y2, asymmetric when the beam's are."""
    (x1, x2), (y1, y2) = beam.jaw_edges_mm()
    return [
        _item(RTBeamLimitingDeviceType="ASYMX", LeafJawPositions=[_ds(x1), _ds(x2)]),
        _item(RTBeamLimitingDeviceType="ASYMY", LeafJawPositions=[_ds(y1), _ds(y2)]),
    ]


def write_rtplan(
    plan: Plan,
    path: str | os.PathLike[str],
    *,
    ct: CTVolume,
    prescription_point_lps_mm: Sequence[float] | np.ndarray | None = None,
    beam_doses_gy: Sequence[float] | None = None,
    structure_set_uid: str | None = None,
    sop_uid: str | None = None,
    series_uid: str | None = None,
    force: bool = False,
) -> Path:
    """Write a resolved plan as a DICOM RT Plan referencing its CT (and structure set).

    Parameters
    ----------
    plan
        A plan whose beams all have their isocentre (resolved on ``ct``: :func:`hbiview.plans.resolve_plan`,
        or ``DoseResult.plan``).
    path
        Output file; written to a temporary name and renamed.
    ct
        The CT: patient, study and FrameOfReferenceUID come from it.
    prescription_point_lps_mm
        The prescription point (LPS mm): written as the dose reference's coordinates. Without it the dose
        reference is a SITE without coordinates.
    beam_doses_gy
        Each beam's dose per fraction at the prescription point (Gy), written as BeamDose.
    structure_set_uid
        SOPInstanceUID of the RT Structure Set of the same set: referenced, and RTPlanGeometry is PATIENT.
        Without it RTPlanGeometry is TREATMENT_DEVICE.
    sop_uid, series_uid
        SOPInstanceUID and SeriesInstanceUID (default: new UIDs).
    force
        Replace an existing file.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    PlanError
        A beam without isocentre, or an energy without a nominal value.
    InputError
        ``beam_doses_gy`` of the wrong length.
    OutputError
        The file exists (without ``force``) or cannot be written.
    """
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence
    from pydicom.uid import generate_uid

    target = check_writable(path, force)
    if not plan.beams:
        raise PlanError(f"{target}: plan {plan.name!r} has no beams")
    for beam in plan.beams:
        if beam.isocentre_lps_mm is None:
            raise PlanError(f"{target}: beam {beam.label} has no isocentre; resolve the plan on its CT first")
        if beam.energy not in _NOMINAL_MEV:
            raise PlanError(f"{target}: beam {beam.label}: unknown energy {beam.energy!r}")
    if beam_doses_gy is not None and len(beam_doses_gy) != len(plan.beams):
        raise InputError(f"{target}: {len(beam_doses_gy)} beam doses for {len(plan.beams)} beams")
    identity = ct_identity(ct)
    sop_uid = sop_uid or str(generate_uid())
    now = _dt.datetime.now()
    date, time = now.strftime("%Y%m%d"), now.strftime("%H%M%S")

    ds = new_dataset(RT_PLAN_STORAGE, sop_uid)
    set_common_modules(
        ds,
        ct.metadata,
        modality="RTPLAN",
        sop_class_uid=RT_PLAN_STORAGE,
        sop_instance_uid=sop_uid,
        study_uid=identity.study_uid,
        series_uid=series_uid or derived_uid("rtplan-series", sop_uid),
        series_number=98,
        series_description=f"hbiview plan {plan.name}",
        frame_uid=identity.frame_uid,
    )
    ds.InstanceCreationDate = date
    ds.InstanceCreationTime = time
    ds.InstanceNumber = 1

    # RT General Plan
    ds.RTPlanLabel = plan.name[:16]
    ds.RTPlanName = plan.name[:64]
    text = f"{plan.description} " if plan.description else ""
    ds.RTPlanDescription = (text + MU_NOTE)[:1024]
    ds.RTPlanDate = date
    ds.RTPlanTime = time
    ds.PlanIntent = "PALLIATIVE"
    if structure_set_uid:
        ds.RTPlanGeometry = "PATIENT"
        reference = _item(
            ReferencedSOPClassUID=RT_STRUCTURE_SET_STORAGE, ReferencedSOPInstanceUID=structure_set_uid
        )
        ds.ReferencedStructureSetSequence = DicomSequence([reference])
    else:
        ds.RTPlanGeometry = "TREATMENT_DEVICE"

    # RT Prescription
    reference = Dataset()
    reference.DoseReferenceNumber = 1
    reference.DoseReferenceUID = derived_uid("dose-reference", sop_uid)
    reference.DoseReferenceType = "TARGET"
    reference.DoseReferenceDescription = plan.normalization.describe()[:64]
    if prescription_point_lps_mm is not None:
        point = np.asarray(prescription_point_lps_mm, dtype=float).reshape(3)
        reference.DoseReferenceStructureType = "COORDINATES"
        reference.DoseReferencePointCoordinates = [_ds(v) for v in point]
    else:
        reference.DoseReferenceStructureType = "SITE"
    reference.TargetPrescriptionDose = _ds(plan.total_dose_gy)
    ds.PrescriptionDescription = (
        f"{plan.prescription_gy:g} Gy x {plan.fractions} = {plan.total_dose_gy:g} Gy at the "
        f"{plan.normalization.describe()}"
    )[:1024]
    ds.DoseReferenceSequence = DicomSequence([reference])

    # RT Patient Setup (hbiview's beam geometry is for a head-first supine patient, IEC 61217)
    ds.PatientSetupSequence = DicomSequence(
        [_item(PatientSetupNumber=1, PatientPosition="HFS", SetupTechnique="ISOCENTRIC")]
    )
    if any(b.ssd_mm is not None for b in plan.beams):
        ds.PatientSetupSequence[0].SetupTechnique = "FIXED_SSD"

    # RT Fraction Scheme
    referenced_beams = []
    for number, _beam in enumerate(plan.beams, start=1):
        item = _item(ReferencedBeamNumber=number)
        if beam_doses_gy is not None:
            item.BeamDose = _ds(float(beam_doses_gy[number - 1]))
        referenced_beams.append(item)
    group = _item(
        FractionGroupNumber=1,
        NumberOfFractionsPlanned=plan.fractions,
        NumberOfBeams=len(plan.beams),
        NumberOfBrachyApplicationSetups=0,
    )
    group.ReferencedBeamSequence = DicomSequence(referenced_beams)
    group.ReferencedDoseReferenceSequence = DicomSequence([_item(ReferencedDoseReferenceNumber=1)])
    ds.FractionGroupSequence = DicomSequence([group])

    # RT Beams
    beams = []
    for number, beam in enumerate(plan.beams, start=1):
        item = Dataset()
        item.BeamNumber = number
        item.BeamName = beam.label[:64]
        item.BeamDescription = f"relative weight {beam.weight:g}; {beam.energy}"[:1024]
        item.TreatmentMachineName = ""
        item.PrimaryDosimeterUnit = "MU"
        item.SourceAxisDistance = _ds(SAD_MM)
        item.BeamLimitingDeviceSequence = DicomSequence(
            [
                _item(RTBeamLimitingDeviceType="ASYMX", NumberOfLeafJawPairs=1),
                _item(RTBeamLimitingDeviceType="ASYMY", NumberOfLeafJawPairs=1),
            ]
        )
        item.BeamType = "STATIC"
        item.RadiationType = "PHOTON"
        item.TreatmentDeliveryType = "TREATMENT"
        item.NumberOfWedges = 0
        item.NumberOfCompensators = 0
        item.NumberOfBoli = 0
        item.NumberOfBlocks = len(beam.blocks)
        if beam.blocks:
            blocks = []
            for k, block in enumerate(beam.blocks, start=1):
                vertices = np.asarray(block.vertices_mm, dtype=float)
                b = Dataset()
                b.BlockNumber = k
                b.BlockName = f"{'partial ' if block.transmission > 0 else ''}shield {k}"
                b.BlockType = "SHIELDING"
                b.BlockDivergence = "PRESENT"
                b.SourceToBlockTrayDistance = ""
                b.MaterialID = ""
                b.BlockTransmission = _ds(block.transmission)
                b.BlockNumberOfPoints = len(vertices)
                b.BlockData = [_ds(v) for v in vertices.ravel()]  # (x, y) mm at the isocentre plane
                blocks.append(b)
            item.BlockSequence = DicomSequence(blocks)
        item.FinalCumulativeMetersetWeight = _ds(1.0)
        item.NumberOfControlPoints = 2
        first = Dataset()
        first.ControlPointIndex = 0
        first.CumulativeMetersetWeight = _ds(0.0)
        first.NominalBeamEnergy = _ds(_NOMINAL_MEV[beam.energy])
        first.BeamLimitingDevicePositionSequence = DicomSequence(_jaws(beam))
        first.GantryAngle = _ds(beam.gantry_deg % 360)
        first.GantryRotationDirection = "NONE"
        first.BeamLimitingDeviceAngle = _ds(beam.collimator_deg % 360)
        first.BeamLimitingDeviceRotationDirection = "NONE"
        first.PatientSupportAngle = _ds(0.0)
        first.PatientSupportRotationDirection = "NONE"
        first.TableTopEccentricAngle = _ds(0.0)
        first.TableTopEccentricRotationDirection = "NONE"
        first.TableTopVerticalPosition = ""
        first.TableTopLongitudinalPosition = ""
        first.TableTopLateralPosition = ""
        first.IsocenterPosition = [_ds(v) for v in beam.isocentre_lps_mm]  # type: ignore[union-attr]
        if beam.ssd_mm is not None:
            first.SourceToSurfaceDistance = _ds(beam.ssd_mm)
        last = Dataset()
        last.ControlPointIndex = 1
        last.CumulativeMetersetWeight = _ds(1.0)
        item.ControlPointSequence = DicomSequence([first, last])
        item.ReferencedPatientSetupNumber = 1
        beams.append(item)
    ds.BeamSequence = DicomSequence(beams)
    ds.ApprovalStatus = "UNAPPROVED"
    with atomic_path(target, force=force) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return target
