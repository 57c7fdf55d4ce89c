// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title swarmdeck's own RL swarm coordinator
/// @notice Speaks the public coordinator's interface (same function names, events and
/// custom errors) so one client works against both. Written for local and private swarms.
/// Roles: owner (assigns roles), stage manager (advances rounds), bootnode manager.
contract Coordinator {
    // ---------------------------------------------------------------- errors
    error PeerIdAlreadyRegistered();
    error RewardAlreadySubmitted();
    error WinnerAlreadyVoted();
    error InvalidRoundNumber();
    error InvalidStageNumber();
    error InvalidVote();
    error InvalidVoterPeerId();
    error StageOutOfBounds();
    error OnlyOwner();
    error OnlyStageManager();
    error OnlyBootnodeManager();
    error InvalidBootnodeIndex();

    // ---------------------------------------------------------------- events
    event PeerRegistered(address indexed eoa, string peerId);
    event RewardSubmitted(address indexed account, uint256 roundNumber, uint256 stageNumber, int256 reward, string peerId);
    event WinnerSubmitted(address indexed account, string peerId, uint256 roundNumber, string[] winners);
    event CumulativeRewardsUpdated(address indexed account, string peerId, int256 totalRewards);
    event RoundAdvanced(uint256 newRoundNumber);
    event StageAdvanced(uint256 roundNumber, uint256 newStage);
    event BootnodesAdded(address indexed manager, uint256 count);
    event BootnodeRemoved(address indexed manager, uint256 index);
    event AllBootnodesCleared(address indexed manager);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event StageManagerUpdated(address indexed previous, address indexed current);
    event BootnodeManagerUpdated(address indexed previous, address indexed current);

    // ---------------------------------------------------------------- limits
    // Bounds keep every write's gas predictable (a vote cannot grow without limit).
    uint256 public constant MAX_WINNERS_PER_VOTE = 32;
    uint256 public constant MAX_PEER_ID_LENGTH = 128;

    // ---------------------------------------------------------------- state
    address public owner;
    address public stageManager;
    address public bootnodeManager;

    uint256 private _currentRound;
    uint256 private _currentStage;
    uint256 private immutable _stageCount;

    mapping(string => address) private _peerToEoa;
    mapping(address => string[]) private _eoaToPeers;

    // round => stage => account => submitted
    mapping(uint256 => mapping(uint256 => mapping(address => bool))) private _rewardSubmitted;
    mapping(string => int256) private _totalRewards;

    // round => voter peer id => voted
    mapping(uint256 => mapping(string => bool)) private _voted;
    mapping(string => uint256) private _totalWins;
    mapping(string => uint256) private _voteCount;
    string[] private _everWon;
    mapping(string => bool) private _inEverWon;
    string[] private _everVoted;
    mapping(string => bool) private _inEverVoted;

    string[] private _bootnodes;

    // ---------------------------------------------------------------- roles
    modifier onlyOwner() {
        if (msg.sender != owner) revert OnlyOwner();
        _;
    }

    modifier onlyStageManager() {
        if (msg.sender != stageManager) revert OnlyStageManager();
        _;
    }

    modifier onlyBootnodeManager() {
        if (msg.sender != bootnodeManager) revert OnlyBootnodeManager();
        _;
    }

    constructor(uint256 stageCount_) {
        if (stageCount_ == 0) revert StageOutOfBounds();
        _stageCount = stageCount_;
        owner = msg.sender;
        stageManager = msg.sender;
        bootnodeManager = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
        emit StageManagerUpdated(address(0), msg.sender);
        emit BootnodeManagerUpdated(address(0), msg.sender);
    }

    function transferOwnership(address newOwner) external onlyOwner {
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    function setStageManager(address manager) external onlyOwner {
        emit StageManagerUpdated(stageManager, manager);
        stageManager = manager;
    }

    function setBootnodeManager(address manager) external onlyOwner {
        emit BootnodeManagerUpdated(bootnodeManager, manager);
        bootnodeManager = manager;
    }

    // ---------------------------------------------------------------- rounds
    function currentRound() external view returns (uint256) {
        return _currentRound;
    }

    function currentStage() external view returns (uint256) {
        return _currentStage;
    }

    function stageCount() external view returns (uint256) {
        return _stageCount;
    }

    /// Next stage; after the last stage, the next round's stage 0.
    function updateStageAndRound() external onlyStageManager returns (uint256, uint256) {
        if (_currentStage + 1 < _stageCount) {
            _currentStage += 1;
        } else {
            _currentStage = 0;
            _currentRound += 1;
            emit RoundAdvanced(_currentRound);
        }
        emit StageAdvanced(_currentRound, _currentStage);
        return (_currentRound, _currentStage);
    }

    // ---------------------------------------------------------------- peers
    /// A peer id belongs to the first EOA that registers it, forever. Registering it again
    /// (by anyone, the owner included) reverts, so clients tell "mine" from "stolen" via getEoa.
    function registerPeer(string calldata peerId) external {
        uint256 n = bytes(peerId).length;
        if (n == 0 || n > MAX_PEER_ID_LENGTH) revert InvalidVoterPeerId();
        if (_peerToEoa[peerId] != address(0)) revert PeerIdAlreadyRegistered();
        _peerToEoa[peerId] = msg.sender;
        _eoaToPeers[msg.sender].push(peerId);
        emit PeerRegistered(msg.sender, peerId);
    }

    function getEoa(string[] calldata peerIds) external view returns (address[] memory eoas) {
        eoas = new address[](peerIds.length);
        for (uint256 i = 0; i < peerIds.length; i++) {
            eoas[i] = _peerToEoa[peerIds[i]];
        }
    }

    function getPeerId(address[] calldata eoas) external view returns (string[][] memory peerIds) {
        peerIds = new string[][](eoas.length);
        for (uint256 i = 0; i < eoas.length; i++) {
            peerIds[i] = _eoaToPeers[eoas[i]];
        }
    }

    // ---------------------------------------------------------------- rewards
    /// One reward per (round, stage, account). Past rounds are accepted so a node whose
    /// submission was queued while the RPC was down still lands it after the round moved on.
    function submitReward(uint256 roundNumber, uint256 stageNumber, int256 reward, string calldata peerId) external {
        if (roundNumber > _currentRound) revert InvalidRoundNumber();
        if (stageNumber >= _stageCount) revert InvalidStageNumber();
        if (roundNumber == _currentRound && stageNumber > _currentStage) revert InvalidStageNumber();
        if (_peerToEoa[peerId] != msg.sender) revert InvalidVoterPeerId();
        if (_rewardSubmitted[roundNumber][stageNumber][msg.sender]) revert RewardAlreadySubmitted();
        _rewardSubmitted[roundNumber][stageNumber][msg.sender] = true;
        _totalRewards[peerId] += reward;
        emit RewardSubmitted(msg.sender, roundNumber, stageNumber, reward, peerId);
        emit CumulativeRewardsUpdated(msg.sender, peerId, _totalRewards[peerId]);
    }

    function hasSubmittedRoundStageReward(uint256 roundNumber, uint256 stageNumber, address account)
        external
        view
        returns (bool)
    {
        return _rewardSubmitted[roundNumber][stageNumber][account];
    }

    function getTotalRewards(string[] calldata peerIds) external view returns (int256[] memory totals) {
        totals = new int256[](peerIds.length);
        for (uint256 i = 0; i < peerIds.length; i++) {
            totals[i] = _totalRewards[peerIds[i]];
        }
    }

    // ---------------------------------------------------------------- winners
    /// One vote per (round, voter peer id); the voter must be registered to the sender.
    function submitWinners(uint256 roundNumber, string[] calldata winners, string calldata peerId) external {
        if (roundNumber > _currentRound) revert InvalidRoundNumber();
        if (_peerToEoa[peerId] != msg.sender) revert InvalidVoterPeerId();
        if (winners.length == 0 || winners.length > MAX_WINNERS_PER_VOTE) revert InvalidVote();
        if (_voted[roundNumber][peerId]) revert WinnerAlreadyVoted();
        for (uint256 i = 0; i < winners.length; i++) {
            uint256 n = bytes(winners[i]).length;
            if (n == 0 || n > MAX_PEER_ID_LENGTH) revert InvalidVote();
            // The same peer twice in one vote would count double.
            for (uint256 j = 0; j < i; j++) {
                if (keccak256(bytes(winners[i])) == keccak256(bytes(winners[j]))) revert InvalidVote();
            }
        }
        _voted[roundNumber][peerId] = true;
        for (uint256 i = 0; i < winners.length; i++) {
            _totalWins[winners[i]] += 1;
            if (!_inEverWon[winners[i]]) {
                _inEverWon[winners[i]] = true;
                _everWon.push(winners[i]);
            }
        }
        _voteCount[peerId] += 1;
        if (!_inEverVoted[peerId]) {
            _inEverVoted[peerId] = true;
            _everVoted.push(peerId);
        }
        emit WinnerSubmitted(msg.sender, peerId, roundNumber, winners);
    }

    function getTotalWins(string calldata peerId) external view returns (uint256) {
        return _totalWins[peerId];
    }

    function getVoterVoteCount(string calldata peerId) external view returns (uint256) {
        return _voteCount[peerId];
    }

    function hasVoted(uint256 roundNumber, string calldata peerId) external view returns (bool) {
        return _voted[roundNumber][peerId];
    }

    /// Peers ranked by wins (descending), positions [start, end). Sorted at read time:
    /// reads are free, and writes stay O(winners).
    function winnerLeaderboard(uint256 start, uint256 end)
        external
        view
        returns (string[] memory peerIds, uint256[] memory wins)
    {
        return _ranked(_everWon, _totalWins, start, end);
    }

    function voterLeaderboard(uint256 start, uint256 end)
        external
        view
        returns (string[] memory peerIds, uint256[] memory votes)
    {
        return _ranked(_everVoted, _voteCount, start, end);
    }

    function _ranked(string[] storage ids, mapping(string => uint256) storage score, uint256 start, uint256 end)
        private
        view
        returns (string[] memory outIds, uint256[] memory outScores)
    {
        uint256 n = ids.length;
        if (end > n) end = n;
        if (start >= end) return (new string[](0), new uint256[](0));
        string[] memory all = new string[](n);
        uint256[] memory s = new uint256[](n);
        for (uint256 i = 0; i < n; i++) {
            all[i] = ids[i];
            s[i] = score[ids[i]];
        }
        // insertion sort, stable: equal scores keep first-seen order
        for (uint256 i = 1; i < n; i++) {
            uint256 v = s[i];
            string memory id = all[i];
            uint256 j = i;
            while (j > 0 && s[j - 1] < v) {
                s[j] = s[j - 1];
                all[j] = all[j - 1];
                j--;
            }
            s[j] = v;
            all[j] = id;
        }
        outIds = new string[](end - start);
        outScores = new uint256[](end - start);
        for (uint256 i = start; i < end; i++) {
            outIds[i - start] = all[i];
            outScores[i - start] = s[i];
        }
    }

    // ---------------------------------------------------------------- bootnodes
    function getBootnodes() external view returns (string[] memory) {
        return _bootnodes;
    }

    function getBootnodesCount() external view returns (uint256) {
        return _bootnodes.length;
    }

    function addBootnodes(string[] calldata addrs) external onlyBootnodeManager {
        for (uint256 i = 0; i < addrs.length; i++) {
            _bootnodes.push(addrs[i]);
        }
        emit BootnodesAdded(msg.sender, addrs.length);
    }

    /// Swap-and-pop: order is not kept, gas stays constant.
    function removeBootnode(uint256 index) external onlyBootnodeManager {
        if (index >= _bootnodes.length) revert InvalidBootnodeIndex();
        _bootnodes[index] = _bootnodes[_bootnodes.length - 1];
        _bootnodes.pop();
        emit BootnodeRemoved(msg.sender, index);
    }

    function clearBootnodes() external onlyBootnodeManager {
        delete _bootnodes;
        emit AllBootnodesCleared(msg.sender);
    }
}
